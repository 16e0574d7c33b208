# The alignment stage (section 6): instruction data, instruction tuning, the reward model, PPO, DPO (beyond
# the paper) and the response embeddings of Figure 6. Every epoch checkpoint is scored by rules/scoring.smk like any model.

if STUDY.alignment:
    PLAN = STUDY.alignment
    # Snakemake caps a job's threads at --cores; on a cluster cpus_per_task comes from the resources.
    ALIGN_THREADS = config["alignment"].get("threads", 4)

    localrules:
        download_instructions,

    rule mini_instructions:
        input:
            world=LAYOUT.world_dir(),
        output:
            directory(STUDY.mini_instructions_dir()),
        log:
            LAYOUT.log("alignment", "mini_instructions"),
        conda:
            ENV_TORCH
        resources:
            **resources_of("mini_instructions"),
        params:
            seed=STUDY.seed,
            sizes=config["alignment"].get("mini_sizes", {}),
        script:
            "../scripts/mini_instructions.py"

    rule download_instructions:
        output:
            directory(LAYOUT.raw_instructions_dir("{dataset}")),
        log:
            LAYOUT.log("alignment", "download_{dataset}"),
        wildcard_constraints:
            dataset="alpaca|oasst|comparison",
        conda:
            ENV_TORCH
        params:
            spec=lambda wc: STUDY.instruction_download_spec(wc.dataset),
        script:
            "../scripts/download_data.py"

    rule instruction_data:
        input:
            STUDY.instruction_raw_inputs(),
        output:
            **STUDY.instruction_tables(),
        log:
            LAYOUT.log("alignment", "instruction_data"),
        conda:
            ENV_TORCH
        resources:
            **resources_of("instruction_data"),
        params:
            raw=STUDY.instruction_raw(),
            n=PLAN.data["n"],
            n_prompts=PLAN.ppo_prompts,
            allow_fewer=PLAN.data.get("allow_fewer", False),
            seed=STUDY.seed,
        script:
            "../scripts/instruction_data.py"

    # One rule per run: runs may train for different numbers of epochs, and each epoch is an output.
    for _run in PLAN.sft_runs:

        rule:
            name:
                f"sft_{_run.name.replace('-', '_')}"
            input:
                base=STUDY.model_dir(PLAN.base),
                base_files=STUDY.model_files(PLAN.base),
                data=STUDY.instruction_table(_run.data),
            output:
                [directory(d) for d in STUDY.run_epoch_dirs(_run.name)],
            log:
                LAYOUT.log("alignment", "sft", _run.name),
            benchmark:
                LAYOUT.benchmark("alignment", "sft", _run.name)
            priority: TRAIN_PRIORITY
            conda:
                ENV_TORCH
            threads: ALIGN_THREADS
            resources:
                **resources_of("sft", run=_run.name),
            params:
                run=asdict(_run),
                launch=PLAN.launch_for(_run.method),
                state=STUDY.run_state_dir(_run.name),
            script:
                "../scripts/sft.py"

    rule reward_model:
        input:
            base=STUDY.model_dir(PLAN.base),
            base_files=STUDY.model_files(PLAN.base),
            pairs=STUDY.instruction_table("comparison"),
        output:
            model=directory(STUDY.reward_dir()),
            metrics=STUDY.reward_metrics_file(),
        log:
            LAYOUT.log("alignment", "reward"),
        benchmark:
            LAYOUT.benchmark("alignment", "reward")
        priority: TRAIN_PRIORITY
        conda:
            ENV_TORCH
        threads: ALIGN_THREADS
        resources:
            **resources_of("reward"),
        params:
            settings=PLAN.reward,
            launch=PLAN.launch_for("reward"),
        script:
            "../scripts/reward_model.py"

    if PLAN.ppo:

        rule ppo:
            input:
                policy=STUDY.rlhf_start_dir(),
                reward=STUDY.reward_dir(),
                prompts=STUDY.instruction_table("ppo_prompts"),
            output:
                [directory(d) for d in STUDY.run_epoch_dirs("ppo")],
            log:
                LAYOUT.log("alignment", "ppo"),
            benchmark:
                LAYOUT.benchmark("alignment", "ppo")
            priority: TRAIN_PRIORITY
            conda:
                ENV_TORCH
            threads: ALIGN_THREADS
            resources:
                **resources_of("ppo"),
            params:
                run=asdict(PLAN.ppo),
                launch=PLAN.launch_for("ppo"),
                state=STUDY.run_state_dir("ppo"),
            script:
                "../scripts/ppo.py"

    if PLAN.dpo:

        rule dpo:
            input:
                policy=STUDY.rlhf_start_dir(),
                pairs=STUDY.instruction_table("comparison"),
            output:
                [directory(d) for d in STUDY.run_epoch_dirs("dpo")],
            log:
                LAYOUT.log("alignment", "dpo"),
            benchmark:
                LAYOUT.benchmark("alignment", "dpo")
            priority: TRAIN_PRIORITY
            conda:
                ENV_TORCH
            threads: ALIGN_THREADS
            resources:
                **resources_of("dpo"),
            params:
                run=asdict(PLAN.dpo),
                launch=PLAN.launch_for("dpo"),
                state=STUDY.run_state_dir("dpo"),
            script:
                "../scripts/dpo.py"

    rule diversity:
        input:
            alpaca=STUDY.instruction_table("alpaca"),
            oasst=STUDY.instruction_table("oasst"),
            embedder=STUDY.embedder_inputs(),
        output:
            **LAYOUT.diversity_outputs(),
        log:
            LAYOUT.log("alignment", "diversity"),
        conda:
            ENV_TORCH
        threads: 1
        resources:
            **resources_of("diversity"),
        params:
            embedder=STUDY.embedder_spec(),
            cfg=PLAN.diversity,
            seed=STUDY.seed,
        script:
            "../scripts/diversity.py"
