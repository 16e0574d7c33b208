# Checkpoints on disk: hub downloads, or the mini suite pretrained here.


rule download_model:
    output:
        hub_checkpoint(LAYOUT.hub_dir("{repo}", "{revision}")),
    log:
        LAYOUT.log("download_model", "{repo}@{revision}"),
    wildcard_constraints:
        repo="[^/]+",
        revision="[^/]+",
    conda:
        ENV_TORCH
    params:
        repo=lambda wc: wc.repo.replace("--", "/"),
        revision=lambda wc: None if wc.revision == "main" else wc.revision,
    script:
        "../scripts/download_model.py"


rule train_tokenizer:
    input:
        world=LAYOUT.world_dir(),
    output:
        directory(LAYOUT.tokenizer_dir()),
    log:
        LAYOUT.log("train_tokenizer"),
    conda:
        ENV_TORCH
    resources:
        **resources_of("train_tokenizer"),
    params:
        vocab_size=STUDY.pretrain.vocab_size,
    script:
        "../scripts/train_tokenizer.py"


# One job per scale; all of its checkpoints are outputs, so scoring any one of
# them trains the scale once.
rule pretrain_mini:
    input:
        tokenizer=LAYOUT.tokenizer_dir(),
        world=LAYOUT.world_dir(),
    output:
        [directory(LAYOUT.mini_dir("{entry}", s)) for s in STUDY.mini_save_steps()],
    log:
        LAYOUT.log("pretrain", "{entry}"),
    benchmark:
        LAYOUT.benchmark("pretrain", "{entry}")
    priority: TRAIN_PRIORITY
    conda:
        ENV_TORCH
    threads: STUDY.pretrain.threads
    resources:
        **resources_of("pretrain_mini"),
    params:
        arch=lambda wc: STUDY.mini_entries()[wc.entry],
        train=STUDY.pretrain.results_params(),
        steps=STUDY.mini_save_steps(),
    script:
        "../scripts/pretrain.py"
