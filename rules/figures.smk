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
        data=lambda wc: STUDY.figure_params(wc.name),
        task_labels=config["task_labels"],
        n_bins=STUDY.metrics.n_bins,
    script:
        "../scripts/figure.py"
