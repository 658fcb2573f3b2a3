//! Where a CIB lives: a file (`CIB_file`), a shadow copy (`CIB_shadow`) or the live cluster.
//!
//! Writes are atomic (a temporary file renamed over the old one), so a failed command never
//! leaves a partial CIB behind.

use std::path::{Path, PathBuf};

use super::xml::{Element, XmlError};

/// Default directory of the live CIB and of shadow copies.
pub const CIB_DIR_DEFAULT: &str = "/var/lib/pacemaker/cib";

/// Where the tools read and write the CIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CibSource {
    /// `CIB_file=PATH`: a CIB in a plain file.
    File(PathBuf),
    /// `CIB_shadow=NAME`: a shadow copy in the shadow directory.
    Shadow {
        /// The shadow's name.
        name: String,
        /// Its file, `$CIB_shadow_dir/shadow.NAME`.
        path: PathBuf,
    },
    /// The live cluster's CIB.
    Live(PathBuf),
}

/// Why a CIB could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not well-formed XML.
    #[error("{path}: {source}")]
    Xml {
        /// The file.
        path: PathBuf,
        /// Where and what.
        #[source]
        source: XmlError,
    },
    /// The document's root is not `<cib>`.
    #[error("{path}: the root element is <{root}>, not <cib>")]
    NotACib {
        /// The file.
        path: PathBuf,
        /// The root found.
        root: String,
    },
}

impl CibSource {
    /// The source selected by the environment, as Pacemaker's tools choose it: `CIB_file`
    /// first, then `CIB_shadow` (in `CIB_shadow_dir`, default [`CIB_DIR_DEFAULT`]), else live.
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`CibSource::from_env`], with the variables given by `get`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(f) = get("CIB_file") {
            return CibSource::File(PathBuf::from(f));
        }
        if let Some(name) = get("CIB_shadow") {
            let dir = get("CIB_shadow_dir").unwrap_or_else(|| CIB_DIR_DEFAULT.to_string());
            return CibSource::Shadow { path: shadow_path(Path::new(&dir), &name), name };
        }
        CibSource::Live(Path::new(CIB_DIR_DEFAULT).join("cib.xml"))
    }

    /// The file behind this source.
    pub fn path(&self) -> &Path {
        match self {
            CibSource::File(p) | CibSource::Live(p) => p,
            CibSource::Shadow { path, .. } => path,
        }
    }

    /// Reads and parses the CIB.
    ///
    /// # Errors
    /// The file is missing or unreadable, is not XML, or its root is not `<cib>`.
    pub fn load(&self) -> Result<Element, StoreError> {
        let path = self.path();
        let text = std::fs::read_to_string(path)
            .map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?;
        let root = Element::parse(&text)
            .map_err(|source| StoreError::Xml { path: path.to_path_buf(), source })?;
        if root.name != "cib" {
            return Err(StoreError::NotACib { path: path.to_path_buf(), root: root.name });
        }
        Ok(root)
    }

    /// Writes the CIB atomically (temporary file, fsync, rename).
    ///
    /// # Errors
    /// The directory is not writable or the disk is full; the old file is then untouched.
    pub fn save(&self, cib: &Element) -> Result<(), StoreError> {
        write_atomic(self.path(), cib.to_pretty_string().as_bytes())
    }
}

/// The file of shadow `name` in `dir`.
pub fn shadow_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("shadow.{name}"))
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so readers see the
/// old content or the new, never a mix.
///
/// # Errors
/// Any I/O error; the temporary file is removed and `path` keeps its old content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write as _;
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("cib");
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Bumps the version after a configuration change: `epoch` + 1, `num_updates` = 0.
pub fn bump_epoch(cib: &mut Element) {
    let epoch = cib.attr("epoch").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    cib.set_attr("epoch", &(epoch + 1).to_string());
    cib.set_attr("num_updates", "0");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_from_vars_prefers_file_then_shadow() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            CibSource::from_vars(vars(&[("CIB_file", "/x.xml"), ("CIB_shadow", "s")])),
            CibSource::File("/x.xml".into())
        );
        let s = CibSource::from_vars(vars(&[("CIB_shadow", "drbd"), ("CIB_shadow_dir", "/d")]));
        assert_eq!(s.path(), Path::new("/d/shadow.drbd"));
        assert!(matches!(CibSource::from_vars(vars(&[])), CibSource::Live(_)));
    }

    #[test]
    fn save_then_load_and_refuse_non_cib() {
        let dir = std::env::temp_dir().join(format!("cib-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = CibSource::File(dir.join("cib.xml"));
        let mut cib =
            Element::parse(r#"<cib epoch="4" num_updates="7"><configuration/></cib>"#).unwrap();
        bump_epoch(&mut cib);
        src.save(&cib).unwrap();
        let back = src.load().unwrap();
        assert_eq!(back.attr("epoch"), Some("5"));
        assert_eq!(back.attr("num_updates"), Some("0"));
        std::fs::write(src.path(), "<nodes/>").unwrap();
        assert!(matches!(src.load(), Err(StoreError::NotACib { .. })));
        std::fs::write(src.path(), "<cib>").unwrap();
        assert!(matches!(src.load(), Err(StoreError::Xml { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
