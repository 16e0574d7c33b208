# Raw data (downloaded, local, or the generated mini world) to canonical seeded samples.


rule mini_world:
    output:
        directory(LAYOUT.world_dir()),
    log:
        LAYOUT.log("mini_world"),
    conda:
        ENV_TORCH
    resources:
        **resources_of("mini_world"),
    params:
        world=STUDY.world.results_params(),
    script:
        "../scripts/mini_world.py"


rule download_data:
    output:
        directory(LAYOUT.raw_dir("{task}")),
    log:
        LAYOUT.log("download_data", "{task}"),
    conda:
        ENV_TORCH
    params:
        spec=lambda wc: STUDY.download_spec(wc.task),
    script:
        "../scripts/download_data.py"


rule sample_data:
    input:
        lambda wc: STUDY.raw_files(wc.task)["inputs"],
        code=lambda wc: STUDY.task_code([wc.task]),
    output:
        LAYOUT.data_file("{task}"),
    log:
        LAYOUT.log("sample_data", "{task}"),
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
