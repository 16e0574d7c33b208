# One job per model: it loads the model once and scores every task, one score file per (task, model); then one
# metrics table over all of them. Asking for one score file runs its model's job.


rule score:
    input:
        model=model_input,
        model_files=model_files,
        data=STUDY.data_files(),
        code=STUDY.task_code(),
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


# Beyond the paper: MMLU at each k of the config's `kshot` sweep (the sample's own k is the MMLU score file).
if STUDY.kshot:

    rule score_kshot:
        input:
            model=model_input,
            model_files=model_files,
            data=STUDY.kshot_data_file(),
        output:
            **STUDY.kshot_model_scores("{model}"),
        log:
            LAYOUT.log("score", "kshot", "{model}"),
        benchmark:
            LAYOUT.benchmark("score", "kshot", "{model}")
        wildcard_constraints:
            model=KSHOT_MODELS,
        conda:
            ENV_TORCH
        threads: 1
        resources:
            **resources_of("score_kshot"),
        params:
            model=lambda wc: STUDY.models[wc.model].as_params(),
            shots=STUDY.kshot_rescored(),
            scoring=STUDY.scoring.results_params(),
            seed=STUDY.seed,
        script:
            "../scripts/score_kshot.py"

    rule kshot_table:
        input:
            STUDY.kshot_files(),
        output:
            report(
                STUDY.kshot_file(), caption="../report/kshot.rst", category="Metrics"
            ),
        log:
            LAYOUT.log("kshot_table"),
        conda:
            ENV_PLOT
        resources:
            **resources_of("kshot_table"),
        params:
            rows=STUDY.kshot_rows(),
            metrics=STUDY.metrics.results_params(),
            seed=STUDY.seed,
        script:
            "../scripts/kshot_table.py"
