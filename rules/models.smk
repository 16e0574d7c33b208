# Checkpoints on disk: hub downloads, or the mini suite pretrained here.


rule download_model:
    output:
        directory(f"{R}/models/hub/{{repo}}/{{revision}}"),
    params:
        repo=lambda wc: wc.repo.replace("--", "/"),
        revision=lambda wc: None if wc.revision == "main" else wc.revision,
    wildcard_constraints:
        repo="[^/]+",
        revision="[^/]+",
    log:
        f"{R}/logs/download_model/{{repo}}@{{revision}}.log",
    script:
        "../scripts/download_model.py"


rule train_tokenizer:
    input:
        world=f"{R}/raw/world",
    output:
        directory(f"{R}/models/mini/tokenizer"),
    params:
        vocab_size=config.get("pretrain", {}).get("vocab_size"),
    log:
        f"{R}/logs/train_tokenizer.log",
    script:
        "../scripts/train_tokenizer.py"


# One job per scale; all of its checkpoints are outputs, so scoring any one of
# them trains the scale once.
rule pretrain_mini:
    input:
        tokenizer=f"{R}/models/mini/tokenizer",
        world=f"{R}/raw/world",
    output:
        [directory(f"{R}/models/mini/{{entry}}/step{s}") for s in STUDY.mini_save_steps()],
    params:
        arch=lambda wc: STUDY.mini_entries()[wc.entry],
        train=config.get("pretrain", {}),
        steps=STUDY.mini_save_steps(),
    threads: config.get("pretrain", {}).get("threads", 1)
    log:
        f"{R}/logs/pretrain/{{entry}}.log",
    script:
        "../scripts/pretrain.py"
