# Raw data (downloaded, local, or the generated mini world) to canonical seeded samples.


rule mini_world:
    output:
        directory(f"{R}/raw/world"),
    log:
        f"{R}/logs/mini_world.log",
    conda:
        ENV_TORCH
    resources:
        **resources_of("mini_world"),
    params:
        world=config.get("world", {}),
    script:
        "../scripts/mini_world.py"


rule download_data:
    output:
        directory(f"{R}/raw/{{task}}"),
    log:
        f"{R}/logs/download_data/{{task}}.log",
    conda:
        ENV_TORCH
    params:
        spec=lambda wc: STUDY.download_spec(wc.task),
    script:
        "../scripts/download_data.py"


rule sample_data:
    input:
        lambda wc: STUDY.raw_files(wc.task)["inputs"],
    output:
        f"{R}/data/{{task}}.parquet",
    log:
        f"{R}/logs/sample_data/{{task}}.log",
    conda:
        ENV_TORCH
    resources:
        **resources_of("sample_data"),
    params:
        read=lambda wc: STUDY.raw_files(wc.task)["read"],
        data=lambda wc: STUDY.data_config(wc.task),
        seed=STUDY.seed,
    script:
        "../scripts/sample_data.py"
