//! Which engines a task covers.

/// Every engine, in the order tables list them. The first four need only Rust and a C
/// compiler; RocksDB also needs libclang (for bindgen) and a long C++ build.
pub const ALL: &[&str] = &["memory", "redb", "fjall", "heed", "rocksdb"];

/// Arguments that give a cargo run the same build-time dependencies as `--workspace`.
///
/// RocksDB's C++ is compiled by librocksdb-sys's build script, and cargo rebuilds a build
/// script's output whenever the features of the build-time crates it depends on change.
/// Those features are unified across every build-time crate of a run, so a run without
/// the conformance crate's dev-dependencies (rstest's proc-macro enables more of `regex`
/// than bindgen does) would compile RocksDB a second time, about 20 minutes on 2 cores.
/// Every task that builds RocksDB therefore selects the conformance crate with its
/// dev-dependencies: a test or `--all-targets` run, plus `-p conformance`.
pub const SAME_BUILD_AS_WORKSPACE: [&str; 2] = ["-p", "conformance"];

/// The engine whose build needs a system library, and the package that builds it.
const ROCKSDB: &str = "rocksdb";
const ROCKSDB_PACKAGE: &str = "fsmstore-rocksdb";

/// A set of engines, plus the ones left out with the reason why.
#[derive(Debug, Clone)]
pub struct Engines {
    names: Vec<&'static str>,
    skipped: Vec<(&'static str, String)>,
}

impl Engines {
    /// Every engine.
    pub fn all() -> Self {
        Self {
            names: ALL.to_vec(),
            skipped: Vec::new(),
        }
    }

    /// The engines that build with Rust and a C compiler alone.
    pub fn without_system_libraries() -> Self {
        Self {
            names: ALL
                .iter()
                .copied()
                .filter(|name| *name != ROCKSDB)
                .collect(),
            skipped: Vec::new(),
        }
    }

    /// Every engine this machine can build: RocksDB only when libclang is installed.
    pub fn all_available() -> Self {
        if libclang_installed() {
            Self::all()
        } else {
            let mut engines = Self::without_system_libraries();
            engines.skipped.push((
                ROCKSDB,
                "libclang not found (apt-get install libclang-dev)".to_owned(),
            ));
            engines
        }
    }

    /// One engine by name (`lmdb` is an alias of `heed`).
    pub fn one(name: &str) -> Result<Self, String> {
        let name = if name == "lmdb" { "heed" } else { name };
        ALL.iter()
            .copied()
            .find(|known| *known == name)
            .map(|known| Self {
                names: vec![known],
                skipped: Vec::new(),
            })
            .ok_or_else(|| format!("unknown engine {name:?}; known: {}", ALL.join(", ")))
    }

    /// The engine names.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Engines left out, with the reason.
    pub fn skipped(&self) -> &[(&'static str, String)] {
        &self.skipped
    }

    /// `--exclude` arguments that keep a `--workspace` cargo run to these engines.
    pub fn workspace_excludes(&self) -> Vec<&'static str> {
        if self.names.contains(&ROCKSDB) {
            Vec::new()
        } else {
            vec!["--exclude", ROCKSDB_PACKAGE]
        }
    }
}

/// Whether bindgen can find libclang: `LIBCLANG_PATH`, or a `libclang*.so` in the usual
/// library directories.
fn libclang_installed() -> bool {
    if std::env::var_os("LIBCLANG_PATH").is_some() {
        return true;
    }
    let mut candidates = vec![
        "/usr/lib".to_owned(),
        "/usr/lib64".to_owned(),
        "/usr/local/lib".to_owned(),
        "/usr/lib/x86_64-linux-gnu".to_owned(),
        "/usr/lib/aarch64-linux-gnu".to_owned(),
    ];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("llvm") {
                candidates.push(format!("/usr/lib/{name}/lib"));
            }
        }
    }
    candidates.iter().any(|dir| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.starts_with("libclang") && name.contains(".so") && !name.contains("cpp")
            })
        })
    })
}
