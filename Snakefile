# llmcal: "On the Calibration of Large Language Models and Alignment" (Zhu et al., 2023)
# as a workflow, from raw data to every figure.
#   snakemake --cores 8 all                                      the paper (config.yaml)
#   snakemake --cores 2 --configfile config/mini.yaml -- all     the mini preset
#   (llmcal takes the same arguments and reports a missing or malformed --configfile in one line)
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# A preset given with --configfile is a whole config: merging config.yaml under it would leak the paper's
# settings (hub sources, 4-GPU launches) into keys the preset leaves out.
if not workflow.overwrite_configfiles:
    import sys

    sys.path.insert(0, str(Path(workflow.basedir) / "src"))
    from llmcal.config import load_yaml
    from llmcal.registry import ConfigError
    from snakemake.exceptions import WorkflowError

    # A syntax error named by line and column, not Snakemake's "not valid JSON or YAML".
    try:
        load_yaml("config.yaml")
    except ConfigError as e:
        raise WorkflowError(str(e)) from None

    configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/alignment.smk"
include: "rules/scoring.smk"
include: "rules/figures.smk"
include: "rules/report.smk"


localrules:
    all,
    download,
    download_data,
    download_model,


rule all:
    input:
        STUDY.all_targets(),


# Everything that needs the internet, for a login node: `snakemake download`.
rule download:
    input:
        STUDY.download_targets(),
