# One job per (model, task), then one metrics table over all of them.


rule score:
    input:
        model=model_input,
        data=LAYOUT.data_file("{task}"),
    output:
        LAYOUT.score_file("{task}", "{model}"),
    log:
        LAYOUT.log("score", "{task}", "{model}"),
    benchmark:
        LAYOUT.benchmark("score", "{task}", "{model}")
    conda:
        ENV_TORCH
    threads: 1
    resources:
        **resources_of("score"),
    params:
        model=lambda wc: STUDY.models[wc.model].as_params(),
        scoring=STUDY.scoring.results_params(),
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
        LAYOUT.log("aggregate"),
    conda:
        ENV_PLOT
    resources:
        **resources_of("aggregate"),
    params:
        rows=STUDY.score_rows(),
        metrics=STUDY.metrics.results_params(),
        seed=STUDY.seed,
    script:
        "../scripts/aggregate.py"
