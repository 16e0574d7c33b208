# The paper's figures as PDF, each from the metrics table and per-sample scores.


rule figure:
    input:
        metrics=STUDY.metrics_file(),
        scores=lambda wc: list(figure_scores(wc).values()),
    output:
        f"{R}/figures/{{name}}.pdf",
    params:
        figure=lambda wc: asdict(STUDY.figure(wc.name)),
        scores=figure_scores,
        labels=figure_labels,
        task_labels=config["task_labels"],
        n_bins=config["metrics"]["n_bins"],
    log:
        f"{R}/logs/figure/{{name}}.log",
    script:
        "../scripts/figure.py"
