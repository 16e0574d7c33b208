# Checkpoints on disk: hub downloads, or the mini suite pretrained here.


rule download_model:
    output:
        hub_checkpoint(f"{R}/models/hub/{{repo}}/{{revision}}"),
    log:
        f"{R}/logs/download_model/{{repo}}@{{revision}}.log",
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
        world=f"{R}/raw/world",
    output:
        directory(f"{R}/models/mini/tokenizer"),
    log:
        f"{R}/logs/train_tokenizer.log",
    conda:
        ENV_TORCH
    resources:
        **resources_of("train_tokenizer"),
    params:
        vocab_size=config.get("pretrain", {}).get("vocab_size"),
    script:
        "../scripts/train_tokenizer.py"


# One job per scale; all of its checkpoints are outputs, so scoring any one of
# them trains the scale once.
rule pretrain_mini:
    input:
        tokenizer=f"{R}/models/mini/tokenizer",
        world=f"{R}/raw/world",
    output:
        [
            directory(f"{R}/models/mini/{{entry}}/step{s}")
            for s in STUDY.mini_save_steps()
        ],
    log:
        f"{R}/logs/pretrain/{{entry}}.log",
    conda:
        ENV_TORCH
    threads: config.get("pretrain", {}).get("threads", 1)
    resources:
        **resources_of("pretrain_mini"),
    params:
        arch=lambda wc: STUDY.mini_entries()[wc.entry],
        train=config.get("pretrain", {}),
        steps=STUDY.mini_save_steps(),
    script:
        "../scripts/pretrain.py"
