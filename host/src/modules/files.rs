//! Modules from a directory of files (the CLI's loader; also a service's, for modules
//! deployed as files).

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::loader::{LoadFuture, ModuleLoader, ModuleRequest};
use crate::context::ExecContext;
use crate::error::BoxError;

/// Loads the module named `a/b.js` from the file `<root>/a/b.js`, confined to `root`: a
/// name that is absolute, or whose path leads outside `root` (through `..` or a
/// symbolic link), is an error (`module_load_failed`), not a file read. A missing file is
/// a missing module (`module_not_found`). Every tenant sees the same files.
///
/// ```no_run
/// use std::sync::Arc;
/// use jsruntime::{Config, FileModuleLoader, Runtime};
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = Runtime::builder()
///     .config(Config::default())
///     .module_loader(Arc::new(FileModuleLoader::new("./rules")?))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileModuleLoader {
    /// Canonical.
    root: PathBuf,
}

impl FileModuleLoader {
    /// Serves the files under `root`, which must be a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref().canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(FileModuleLoader { root })
    }

    /// The directory modules come from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file `name` is, if it is inside the root; `Ok(None)` when no such file exists.
    async fn read(&self, name: &str) -> Result<Option<Arc<str>>, BoxError> {
        let relative = Path::new(name);
        let confined = relative
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
        if name.is_empty() || !confined {
            return Err(format!(
                "module {name:?} is outside the module directory {}",
                self.root.display()
            )
            .into());
        }
        // File system calls block: off the async workers, as tokio's own `fs` does.
        let root = self.root.clone();
        let joined = root.join(relative);
        let name_owned = name.to_owned();
        let read = tokio::task::spawn_blocking(move || -> Result<Option<String>, BoxError> {
            let name = name_owned;
            let path = match std::fs::canonicalize(&joined) {
                Ok(path) => path,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(format!("module {name:?}: {error}").into()),
            };
            if !path.starts_with(&root) {
                return Err(format!(
                    "module {name:?} leads outside the module directory {} (to {})",
                    root.display(),
                    path.display()
                )
                .into());
            }
            if !path.is_file() {
                return Ok(None);
            }
            std::fs::read_to_string(&path).map(Some).map_err(|error| {
                format!("reading module {name:?} ({}): {error}", path.display()).into()
            })
        });
        let Some(source) = read
            .await
            .map_err(|error| format!("reading module {name:?}: {error}"))??
        else {
            return Ok(None);
        };
        Ok(Some(Arc::from(source)))
    }
}

impl ModuleLoader for FileModuleLoader {
    fn load<'a>(&'a self, _context: &'a ExecContext, request: &'a ModuleRequest) -> LoadFuture<'a> {
        Box::pin(self.read(&request.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_inside_the_root_load_and_nothing_outside_does() {
        let dir = std::env::temp_dir().join(format!("jsruntime-files-{}", std::process::id()));
        let root = dir.join("rules");
        std::fs::create_dir_all(root.join("lib")).expect("temp dir");
        std::fs::write(root.join("lib/tax.js"), "export const t = 1;").expect("write");
        std::fs::write(dir.join("secret.js"), "secret").expect("write");
        let loader = FileModuleLoader::new(&root).expect("a directory");
        let source = loader.read("lib/tax.js").await.expect("inside");
        assert_eq!(source.as_deref(), Some("export const t = 1;"));
        assert_eq!(
            loader.read("lib/none.js").await.expect("missing is none"),
            None
        );
        assert!(loader.read("../secret.js").await.is_err());
        assert!(loader.read("/etc/passwd").await.is_err());
        #[cfg(unix)]
        {
            let link = root.join("link.js");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(dir.join("secret.js"), &link).expect("symlink");
            assert!(loader.read("link.js").await.is_err());
        }
        assert!(FileModuleLoader::new(root.join("lib/tax.js")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
