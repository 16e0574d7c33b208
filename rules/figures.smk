# The paper's figures as PDF, each from the metrics table and per-sample scores.


rule figure:
    input:
        unpack(lambda wc: STUDY.figure_inputs(wc.name)),
    output:
        report(
            LAYOUT.figure_file("{name}"),
            caption="../report/figure.rst",
            category="Figures",
        ),
    log:
        LAYOUT.log("figure", "{name}"),
    conda:
        ENV_PLOT
    resources:
        **resources_of("figure"),
    params:
        figure=lambda wc: asdict(STUDY.figure(wc.name)),
        scores=lambda wc: STUDY.figure_scores(wc.name),
        labels=lambda wc: STUDY.figure_labels(wc.name),
        groups=lambda wc: STUDY.figure_groups(wc.name),
        task_labels=config["task_labels"],
        n_bins=STUDY.metrics.n_bins,
    script:
        "../scripts/figure.py"
