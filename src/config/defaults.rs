//! The built-in defaults: the first layer of [`Settings::load`].

use super::{
    CallbackSettings, DatabaseSettings, EdgeSettings, JobSettings, MetricsSettings, QuerySettings, QuotaSettings,
    Settings, StoreBackend, StoreSettings, TlsSettings, UploadSettings,
};
use std::path::PathBuf;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".parse().expect("literal address"),
            database_url: None,
            data_dir: PathBuf::from("localrecord-data"),
            public_url: None,
            shutdown_grace_secs: 10,
            failpoints: None,
            db: DatabaseSettings { max_connections: 20 },
            store: StoreSettings {
                backend: StoreBackend::Fs,
                root: None,
                bucket: None,
                endpoint: None,
                region: None,
                virtual_host_style: false,
                s3_multipart: true,
                access_key_id: None,
                secret_access_key: None,
                part_size: 5 * 1024 * 1024,
            },
            upload: UploadSettings {
                max_size: 4 * 1024 * 1024 * 1024,
                expiry_secs: 24 * 3600,
                sweep_interval_secs: 60,
                orphan_grace_secs: 3600,
            },
            tls: TlsSettings::default(),
            edge: EdgeSettings {
                header_read_timeout_secs: 15,
                idle_timeout_secs: 60,
                body_idle_secs: 30,
                max_connections: 4096,
                auth_failures_per_minute: 30,
            },
            query: QuerySettings {
                max_expire_window_secs: 300,
                max_page_size: 100,
                replay_cache: false,
                recording_url_ttl_secs: 0,
            },
            callback: CallbackSettings {
                allow_private: false,
                retry_schedule_secs: vec![0, 5, 300, 1800, 7200, 18000, 36000, 36000],
                timeout_secs: 15,
                proxy: None,
            },
            metrics: MetricsSettings::default(),
            quota: QuotaSettings {
                open_tasks_per_user: 8,
                partial_bytes_per_user: 8 << 30,
                slices_per_task: 10_000,
                stored_bytes_per_app: 0,
            },
            jobs: JobSettings {
                enabled: true,
                concurrency: 2,
                lease_secs: 30,
                poll_interval_ms: 250,
                splice_idle_secs: 1800,
                stall_secs: 120,
                deadline_min_secs: 300,
                deadline_bytes_per_sec: 256 * 1024,
                resplice_delay_secs: 10,
                prepare_slices: true,
                piece_max_packets: crate::splice::piece::MAX_ENTRIES,
                retention_interval_secs: 3600,
            },
        }
    }
}
