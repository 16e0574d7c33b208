# One job per (model, task), then one metrics table over all of them.


rule score:
    input:
        model=model_input,
        data=f"{R}/data/{{task}}.parquet",
    output:
        f"{R}/scores/{{task}}/{{model}}.parquet",
    params:
        model=lambda wc: STUDY.models[wc.model].as_params(),
        scoring=config["scoring"],
        seed=STUDY.seed,
    threads: 1
    log:
        f"{R}/logs/score/{{task}}/{{model}}.log",
    script:
        "../scripts/score.py"


rule aggregate:
    input:
        STUDY.all_scores(),
    output:
        STUDY.metrics_file(),
    params:
        rows=STUDY.score_rows(),
        metrics=config["metrics"],
        seed=STUDY.seed,
    log:
        f"{R}/logs/aggregate.log",
    script:
        "../scripts/aggregate.py"
