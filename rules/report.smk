# The findings report: each of the paper's claims tested on this run's own numbers.


rule findings:
    input:
        metrics=STUDY.metrics_file(),
        scores=STUDY.all_scores(),
        figures=[STUDY.figure_file(f.name) for f in STUDY.figures],
        alignment=STUDY.alignment_summary_files(),
    output:
        md=STUDY.findings_files()[0],
        html=report(
            STUDY.findings_files()[1],
            caption="../report/findings.rst",
            category="Findings",
        ),
        selective=STUDY.findings_files()[2],
    log:
        f"{R}/logs/findings.log",
    conda:
        ENV_PLOT
    resources:
        **resources_of("findings"),
    params:
        config=config,
        figures={f.name: STUDY.figure_file(f.name) for f in STUDY.figures},
        n_boot=config["metrics"]["n_boot"],
        seed=STUDY.seed,
    script:
        "../scripts/findings.py"
