# One job per model: it loads the model once and scores every task, one score file per (task, model); then one
# metrics table over all of them. Asking for one score file runs its model's job.


rule score:
    input:
        model=model_input,
        data=STUDY.data_files(),
    output:
        **STUDY.model_scores("{model}"),
    log:
        LAYOUT.log("score", "{model}"),
    benchmark:
        LAYOUT.benchmark("score", "{model}")
    conda:
        ENV_TORCH
    threads: 1
    resources:
        **resources_of("score"),
    params:
        model=lambda wc: STUDY.models[wc.model].as_params(),
        tasks=list(STUDY.tasks),
        scoring=STUDY.scoring.results_params(),
        seed=STUDY.seed,
    script:
        "../scripts/score.py"


rule aggregate:
    input:
        STUDY.all_scores(),
    output:
        metrics=report(
            STUDY.metrics_file(), caption="../report/metrics.rst", category="Metrics"
        ),
        per_subject=STUDY.per_subject_file(),
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
