# The findings report: each of the paper's claims tested on this run's own numbers.

FINDINGS = LAYOUT.findings_outputs()


rule findings:
    input:
        metrics=STUDY.metrics_file(),
        scores=STUDY.all_scores(),
        figures=[STUDY.figure_file(f.name) for f in STUDY.figures],
        alignment=STUDY.alignment_summary_files(),
    output:
        md=FINDINGS["md"],
        html=report(
            FINDINGS["html"], caption="../report/findings.rst", category="Findings"
        ),
        selective=FINDINGS["selective"],
    log:
        LAYOUT.log("findings"),
    conda:
        ENV_PLOT
    resources:
        **resources_of("findings"),
    params:
        config=STUDY.results_config(),
        figures={f.name: STUDY.figure_file(f.name) for f in STUDY.figures},
        n_boot=STUDY.metrics.n_boot,
        seed=STUDY.seed,
    script:
        "../scripts/findings.py"
