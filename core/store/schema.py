"""Schema migrations of the session store, applied in order. Never edit a released step: add one."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial schema",
        """
        CREATE TABLE session_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        CREATE TABLE topics (
            id INTEGER PRIMARY KEY,
            parent_id INTEGER REFERENCES topics(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            questions_per_topic INTEGER,
            position INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        CREATE INDEX topics_parent ON topics(parent_id, position);

        CREATE TABLE pairs (
            id INTEGER PRIMARY KEY,
            topic_id INTEGER REFERENCES topics(id) ON DELETE SET NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT 'qa' CHECK (kind IN ('qa', 'refusal')),
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
            tags TEXT NOT NULL DEFAULT '[]',
            flags TEXT NOT NULL DEFAULT '[]',
            score REAL,
            score_detail TEXT,
            task_key TEXT UNIQUE,
            provenance TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX pairs_topic ON pairs(topic_id);
        CREATE INDEX pairs_status ON pairs(status);

        CREATE TABLE pair_edits (
            id INTEGER PRIMARY KEY,
            pair_id INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
            batch TEXT NOT NULL,
            field TEXT NOT NULL,
            old_value TEXT,
            new_value TEXT,
            at REAL NOT NULL
        );
        CREATE INDEX pair_edits_batch ON pair_edits(batch);

        CREATE TABLE gen_tasks (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            topic_id INTEGER REFERENCES topics(id) ON DELETE CASCADE,
            payload TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            result TEXT,
            updated_at REAL NOT NULL
        );
        CREATE INDEX gen_tasks_status ON gen_tasks(kind, status);

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL,
            status TEXT NOT NULL DEFAULT 'running',
            stats TEXT NOT NULL DEFAULT '{}'
        );

        CREATE TABLE llm_calls (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            profile TEXT NOT NULL,
            model TEXT NOT NULL,
            purpose TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            error TEXT,
            at REAL NOT NULL
        );

        CREATE TABLE dataset_versions (
            id INTEGER PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            format TEXT NOT NULL CHECK (format IN ('instruction', 'chat')),
            s3_uri TEXT,
            train_s3_uri TEXT,
            validation_s3_uri TEXT,
            counts TEXT NOT NULL DEFAULT '{}',
            template TEXT,
            filters TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL
        );

        CREATE TABLE recipes (
            model_id TEXT NOT NULL,
            model_version TEXT NOT NULL,
            region TEXT NOT NULL,
            data TEXT NOT NULL,
            fetched_at REAL NOT NULL,
            PRIMARY KEY (model_id, model_version, region)
        );

        CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            spec TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL
        );

        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            sweep_id INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,
            dataset_version_id INTEGER REFERENCES dataset_versions(id),
            model_id TEXT NOT NULL,
            model_version TEXT NOT NULL DEFAULT '*',
            instance_type TEXT NOT NULL,
            hyperparameters TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'Queued',
            secondary_status TEXT,
            priority INTEGER NOT NULL DEFAULT 0,
            arn TEXT,
            request TEXT,
            output_uri TEXT,
            failure_reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL,
            created_at REAL NOT NULL,
            launched_at REAL,
            start_time REAL,
            end_time REAL,
            billable_seconds INTEGER,
            last_modified REAL
        );
        CREATE INDEX jobs_status ON jobs(status);

        CREATE TABLE metric_points (
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            metric TEXT NOT NULL,
            epoch INTEGER,
            step INTEGER,
            timestamp_ms INTEGER NOT NULL,
            value REAL NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('metrics', 'logs')),
            PRIMARY KEY (job_id, metric, source, timestamp_ms, step)
        ) WITHOUT ROWID;

        CREATE TABLE log_cursors (
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            stream TEXT NOT NULL,
            next_token TEXT,
            last_timestamp_ms INTEGER,
            PRIMARY KEY (job_id, stream)
        );

        CREATE TABLE endpoints (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
            kind TEXT NOT NULL CHECK (kind IN ('finetuned', 'base')),
            model_name TEXT,
            config_name TEXT,
            instance_type TEXT NOT NULL,
            prompt_format TEXT NOT NULL DEFAULT 'instruction',
            status TEXT NOT NULL DEFAULT 'Creating',
            price_per_hour REAL,
            created_at REAL NOT NULL,
            in_service_at REAL,
            last_invoked_at REAL,
            deleted_at REAL
        );

        CREATE TABLE question_sets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        );

        CREATE TABLE questions (
            id INTEGER PRIMARY KEY,
            set_id INTEGER NOT NULL REFERENCES question_sets(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            topic TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            reference TEXT,
            UNIQUE (set_id, position)
        );

        CREATE TABLE evaluations (
            id INTEGER PRIMARY KEY,
            set_id INTEGER NOT NULL REFERENCES question_sets(id),
            target_a TEXT NOT NULL,
            target_b TEXT NOT NULL,
            endpoint_id INTEGER REFERENCES endpoints(id) ON DELETE SET NULL,
            rubric TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'running',
            summary TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL
        );

        CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
            target TEXT NOT NULL,
            sample INTEGER NOT NULL DEFAULT 0,
            text TEXT,
            latency_ms REAL,
            tokens INTEGER,
            error TEXT,
            created_at REAL NOT NULL,
            UNIQUE (question_id, target, sample)
        );

        CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY,
            evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
            question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
            ordering TEXT NOT NULL CHECK (ordering IN ('AB', 'BA')),
            winner TEXT CHECK (winner IN ('A', 'B', 'tie')),
            reason TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            UNIQUE (evaluation_id, question_id, ordering)
        );

        CREATE TABLE votes (
            id INTEGER PRIMARY KEY,
            evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
            question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
            voter TEXT NOT NULL,
            a_on_left INTEGER NOT NULL,
            choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie', 'both_bad')),
            created_at REAL NOT NULL,
            UNIQUE (evaluation_id, question_id, voter)
        );

        CREATE TABLE prompt_versions (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            system_prompt TEXT NOT NULL,
            temperature REAL NOT NULL,
            top_p REAL NOT NULL,
            max_tokens INTEGER NOT NULL,
            parent_id INTEGER REFERENCES prompt_versions(id) ON DELETE SET NULL,
            created_at REAL NOT NULL
        );

        CREATE TABLE playground_runs (
            id INTEGER PRIMARY KEY,
            prompt_version_id INTEGER REFERENCES prompt_versions(id) ON DELETE SET NULL,
            target TEXT NOT NULL,
            system_prompt TEXT NOT NULL,
            temperature REAL NOT NULL,
            top_p REAL NOT NULL,
            max_tokens INTEGER NOT NULL,
            question TEXT NOT NULL,
            round_started_at REAL,
            created_at REAL NOT NULL
        );

        CREATE TABLE samples (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES playground_runs(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            finish_reason TEXT,
            latency_ms REAL,
            picked INTEGER NOT NULL DEFAULT 0,
            submitted_at REAL,
            judge_score REAL,
            UNIQUE (run_id, idx)
        );

        CREATE TABLE session_log (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            level TEXT NOT NULL,
            source TEXT NOT NULL,
            message TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        "endpoint details and evaluation settings",
        """
        ALTER TABLE endpoints ADD COLUMN model_id TEXT;
        ALTER TABLE endpoints ADD COLUMN instruction_template TEXT;
        ALTER TABLE endpoints ADD COLUMN failure_reason TEXT;
        ALTER TABLE evaluations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE evaluations ADD COLUMN finished_at REAL;
        ALTER TABLE answers ADD COLUMN finish_reason TEXT;
        CREATE INDEX IF NOT EXISTS evaluations_set ON evaluations(set_id, target_a, target_b);
        CREATE INDEX IF NOT EXISTS verdicts_question ON verdicts(question_id);
        CREATE INDEX IF NOT EXISTS votes_question ON votes(question_id);
        """,
    ),
    (
        3,
        "job monitoring state",
        """
        ALTER TABLE jobs ADD COLUMN progress TEXT;
        ALTER TABLE jobs ADD COLUMN estimated_seconds REAL;
        ALTER TABLE jobs ADD COLUMN described_at REAL;
        ALTER TABLE jobs ADD COLUMN metrics_cursor_ms INTEGER;
        ALTER TABLE jobs ADD COLUMN logs_cursor_ms INTEGER;
        ALTER TABLE jobs ADD COLUMN monitor_done INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE log_cursors ADD COLUMN parser_state TEXT;
        CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(status, priority DESC, id);
        """,
    ),
    (
        4,
        "playground rounds, comparisons and rehearsals",
        """
        CREATE TABLE playground_rounds (
            id INTEGER PRIMARY KEY,
            question TEXT NOT NULL,
            seconds REAL NOT NULL,
            started_at REAL NOT NULL,
            submitted_sample_id INTEGER REFERENCES samples(id) ON DELETE SET NULL,
            submitted_at REAL,
            auto_submitted INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE playground_comparisons (
            id INTEGER PRIMARY KEY,
            question TEXT NOT NULL,
            run_a INTEGER NOT NULL REFERENCES playground_runs(id) ON DELETE CASCADE,
            run_b INTEGER NOT NULL REFERENCES playground_runs(id) ON DELETE CASCADE,
            human_choice TEXT CHECK (human_choice IN ('A', 'B', 'tie')),
            judge_choice TEXT CHECK (judge_choice IN ('A', 'B', 'tie')),
            judge_reason TEXT,
            created_at REAL NOT NULL
        );

        CREATE TABLE rehearsals (
            id INTEGER PRIMARY KEY,
            set_id INTEGER REFERENCES question_sets(id) ON DELETE SET NULL,
            target TEXT NOT NULL,
            versions TEXT NOT NULL DEFAULT '[]',
            k INTEGER NOT NULL,
            baseline TEXT NOT NULL CHECK (baseline IN ('other', 'reference')),
            status TEXT NOT NULL DEFAULT 'running',
            summary TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            finished_at REAL
        );

        ALTER TABLE playground_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'single';
        ALTER TABLE playground_runs ADD COLUMN round_id INTEGER REFERENCES playground_rounds(id) ON DELETE SET NULL;
        ALTER TABLE playground_runs ADD COLUMN rehearsal_id INTEGER REFERENCES rehearsals(id) ON DELETE CASCADE;
        ALTER TABLE playground_runs ADD COLUMN question_id INTEGER REFERENCES questions(id) ON DELETE SET NULL;
        ALTER TABLE samples ADD COLUMN tokens INTEGER;
        ALTER TABLE samples ADD COLUMN error TEXT;
        ALTER TABLE samples ADD COLUMN judge_reason TEXT;
        CREATE INDEX IF NOT EXISTS playground_runs_version ON playground_runs(prompt_version_id);
        CREATE INDEX IF NOT EXISTS playground_runs_rehearsal
            ON playground_runs(rehearsal_id, prompt_version_id, question_id);
        """,
    ),
    (
        5,
        "league: runs recorded by hand and leaderboard submissions",
        """
        CREATE TABLE console_runs (
            job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
            status TEXT NOT NULL CHECK (status IN ('InProgress', 'Completed', 'Failed', 'Stopped')),
            started_at REAL,
            ended_at REAL,
            duration_s REAL CHECK (duration_s IS NULL OR duration_s >= 0),
            twin_job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
            card TEXT,
            note TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );

        CREATE TABLE submissions (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            submitted_at REAL NOT NULL,
            score TEXT NOT NULL,
            fraction REAL NOT NULL CHECK (fraction >= 0 AND fraction <= 1),
            wins INTEGER,
            questions INTEGER,
            rank INTEGER CHECK (rank IS NULL OR rank >= 1),
            note TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS submissions_job ON submissions(job_id, submitted_at);
        """,
    ),
    (
        6,
        "llm calls: whether a price was known",
        """
        ALTER TABLE llm_calls ADD COLUMN priced INTEGER NOT NULL DEFAULT 1;
        """,
    ),
    (
        7,
        "rate leases: processes sharing the rate budget of an account",
        """
        CREATE TABLE rate_leases (
            key TEXT NOT NULL,
            holder TEXT NOT NULL,
            expires_at REAL NOT NULL,
            used REAL NOT NULL DEFAULT 0,
            share REAL NOT NULL DEFAULT 0,
            beat_at REAL NOT NULL,
            PRIMARY KEY (key, holder)
        ) WITHOUT ROWID;
        """,
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]
