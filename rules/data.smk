# Raw data (downloaded, local, or the generated mini world) to canonical seeded samples.


rule mini_world:
    output:
        directory(f"{R}/raw/world"),
    params:
        world=config.get("world", {}),
    log:
        f"{R}/logs/mini_world.log",
    script:
        "../scripts/mini_world.py"


rule download_data:
    output:
        directory(f"{R}/raw/{{task}}"),
    params:
        spec=lambda wc: STUDY.download_spec(wc.task),
    log:
        f"{R}/logs/download_data/{{task}}.log",
    script:
        "../scripts/download_data.py"


rule sample_data:
    input:
        lambda wc: STUDY.raw_files(wc.task)["inputs"],
    output:
        f"{R}/data/{{task}}.parquet",
    params:
        read=lambda wc: STUDY.raw_files(wc.task)["read"],
        data=lambda wc: STUDY.data_config(wc.task),
        seed=STUDY.seed,
    log:
        f"{R}/logs/sample_data/{{task}}.log",
    script:
        "../scripts/sample_data.py"
