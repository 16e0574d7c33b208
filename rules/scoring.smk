# One job per (model, task), then one metrics table over all of them.


rule score:
    input:
        model=model_input,
        data=f"{R}/data/{{task}}.parquet",
    output:
        f"{R}/scores/{{task}}/{{model}}.parquet",
    log:
        f"{R}/logs/score/{{task}}/{{model}}.log",
    conda:
        ENV_TORCH
    threads: 1
    resources:
        **resources_of("score"),
    params:
        model=lambda wc: STUDY.models[wc.model].as_params(),
        scoring=config["scoring"],
        seed=STUDY.seed,
    script:
        "../scripts/score.py"


rule aggregate:
    input:
        STUDY.all_scores(),
    output:
        report(
            STUDY.metrics_file(), caption="../report/metrics.rst", category="Metrics"
        ),
    log:
        f"{R}/logs/aggregate.log",
    conda:
        ENV_PLOT
    resources:
        **resources_of("aggregate"),
    params:
        rows=STUDY.score_rows(),
        metrics=config["metrics"],
        seed=STUDY.seed,
    script:
        "../scripts/aggregate.py"
