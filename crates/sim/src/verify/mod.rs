//! Reads a simulated tree back and checks it against the spec, independently of how it was
//! written (names are parsed, not rebuilt): used by the tests, and by anyone who wants to
//! compare what a log agent shipped with what the node wrote.
//!
//! [`scan`] lists pods, containers, instances and their live and rotated files, and the
//! `/var/log/containers` symlinks; [`Tree::problems`] lists breaches of the kubelet's rules;
//! [`read_lines`] rebuilds an instance's logical lines from all its files (`.gz` included),
//! joining `P` records per stream; [`read_ledger`] reads the ledger and
//! [`compare_with_ledger`] checks the files hold exactly what it lists.

use std::path::{Path, PathBuf};

use kelp_k8s::path::{ContainerLogLink, PodLogPath, Rotation};

use crate::SimError;

mod ledger;
mod lines;

pub use ledger::{compare_with_ledger, read_ledger, LedgerComparison};
pub use lines::{read_file, read_lines, LogicalLine};

/// A pod log tree: `<root>/var/log/pods` and `<root>/var/log/containers`.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// Pod directories, by name.
    pub pods: Vec<PodDir>,
    /// Legacy symlinks, by name.
    pub symlinks: Vec<Symlink>,
}

/// `<namespace>_<pod>_<uid>/`.
#[derive(Debug, Clone)]
pub struct PodDir {
    /// The namespace.
    pub namespace: String,
    /// The pod name.
    pub pod: String,
    /// The pod UID.
    pub uid: String,
    /// The directory.
    pub path: PathBuf,
    /// Its container directories, by name.
    pub containers: Vec<ContainerDir>,
}

/// `<container>/` in a pod directory.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    /// The container name.
    pub name: String,
    /// Instances with files here, by restart number.
    pub instances: Vec<InstanceFiles>,
}

/// The files of one container instance: `<restart>.log` and `<restart>.log.<stamp>[.gz]`.
#[derive(Debug, Clone)]
pub struct InstanceFiles {
    /// The restart number.
    pub restart: u32,
    /// `<restart>.log`, if present.
    pub live: Option<PathBuf>,
    /// Rotated files, oldest first.
    pub rotated: Vec<RotatedFile>,
}

/// `<restart>.log.<YYYYMMDD-HHMMSS>`, compressed or not.
#[derive(Debug, Clone)]
pub struct RotatedFile {
    /// The file.
    pub path: PathBuf,
    /// The `YYYYMMDD-HHMMSS` stamp.
    pub stamp: String,
    /// Whether the name ends in `.gz`.
    pub gzipped: bool,
}

/// `<pod>_<namespace>_<container>-<id>.log` in `/var/log/containers`.
#[derive(Debug, Clone)]
pub struct Symlink {
    /// The link.
    pub path: PathBuf,
    /// The pod name.
    pub pod: String,
    /// The namespace.
    pub namespace: String,
    /// The container name.
    pub container: String,
    /// The container id (64 hex digits unless the kubelet truncated the name).
    pub container_id: String,
    /// Where it points.
    pub target: PathBuf,
}

pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> SimError {
    SimError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn names_in(dir: &Path) -> Result<Vec<(String, PathBuf)>, SimError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(SimError::io("read directory", dir))? {
        let entry = entry.map_err(SimError::io("read directory", dir))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| corrupt(&entry.path(), "name is not UTF-8"))?;
        out.push((name, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// Reads the tree under `<root>/var/log`. Any name the kubelet would not make is an error;
/// names are parsed by `kelp_k8s::path`, the same parser the agent uses.
pub fn scan(root: &Path) -> Result<Tree, SimError> {
    let pods_dir = root.join("var/log/pods");
    let links_dir = root.join("var/log/containers");
    let mut tree = Tree::default();
    for (name, path) in names_in(&pods_dir)? {
        // The container and file parts are placeholders: only the pod directory is checked here.
        let probe = format!("{name}/c/0.log");
        let id = PodLogPath::parse(&probe).map_err(|e| corrupt(&path, e.to_string()))?;
        let mut pod = PodDir {
            namespace: id.namespace.into(),
            pod: id.pod.into(),
            uid: id.uid.into(),
            path: path.clone(),
            containers: vec![],
        };
        for (cname, cpath) in names_in(&path)? {
            if !cpath.is_dir() {
                return Err(corrupt(&cpath, "not a container directory"));
            }
            let instances = scan_instances(&name, &cname, &cpath)?;
            pod.containers.push(ContainerDir {
                name: cname,
                instances,
            });
        }
        tree.pods.push(pod);
    }
    for (name, path) in names_in(&links_dir)? {
        let link = ContainerLogLink::parse(&name).map_err(|e| corrupt(&path, e.to_string()))?;
        let target = std::fs::read_link(&path).map_err(SimError::io("read link", &path))?;
        tree.symlinks.push(Symlink {
            path: path.clone(),
            pod: link.pod.into(),
            namespace: link.namespace.into(),
            container: link.container.into(),
            container_id: link.container_id.into(),
            target,
        });
    }
    Ok(tree)
}

fn scan_instances(pod: &str, container: &str, dir: &Path) -> Result<Vec<InstanceFiles>, SimError> {
    let mut out: Vec<InstanceFiles> = Vec::new();
    for (name, path) in names_in(dir)? {
        let rel = format!("{pod}/{container}/{name}");
        let id = PodLogPath::parse(&rel).map_err(|e| corrupt(&path, e.to_string()))?;
        let i = match out.iter().position(|x| x.restart == id.restart) {
            Some(i) => i,
            None => {
                out.push(InstanceFiles {
                    restart: id.restart,
                    live: None,
                    rotated: vec![],
                });
                out.len() - 1
            }
        };
        let (stamp, gzipped) = match id.rotation {
            Rotation::Live => {
                out[i].live = Some(path);
                continue;
            }
            Rotation::Rotated { stamp } => (stamp, false),
            Rotation::RotatedGz { stamp } => (stamp, true),
        };
        out[i].rotated.push(RotatedFile {
            path,
            stamp: stamp.to_string(),
            gzipped,
        });
    }
    out.sort_by_key(|x| x.restart);
    for inst in &mut out {
        inst.rotated.sort_by(|a, b| a.stamp.cmp(&b.stamp));
    }
    Ok(out)
}

impl Tree {
    /// Breaches of the kubelet's rules, empty when the tree is as a kubelet leaves it:
    /// at most `max_files` files per instance; every rotated file but the newest gzipped,
    /// and the current instance's newest not; at most one dead instance per container;
    /// one symlink per instance, absolute, pointing at the instance's existing live file.
    pub fn problems(&self, max_files: u32) -> Vec<String> {
        let mut out = Vec::new();
        let mut targets = Vec::new();
        for pod in &self.pods {
            for c in &pod.containers {
                let where_ = format!("{}/{}", pod.path.display(), c.name);
                if c.instances.len() > 2 {
                    out.push(format!(
                        "{where_}: {} instances, garbage collection keeps 2",
                        c.instances.len()
                    ));
                }
                for (k, inst) in c.instances.iter().enumerate() {
                    let current = k + 1 == c.instances.len();
                    let files = inst.rotated.len() + usize::from(inst.live.is_some());
                    if files > max_files as usize {
                        out.push(format!(
                            "{where_}/{}.log: {files} files, more than {max_files}",
                            inst.restart
                        ));
                    }
                    let n = inst.rotated.len();
                    for (j, r) in inst.rotated.iter().enumerate() {
                        if j + 1 < n && !r.gzipped {
                            out.push(format!(
                                "{}: an older rotated file is not gzipped",
                                r.path.display()
                            ));
                        }
                        if j + 1 == n && current && r.gzipped {
                            out.push(format!(
                                "{}: the newest rotated file is gzipped",
                                r.path.display()
                            ));
                        }
                    }
                    match &inst.live {
                        Some(live) => targets.push((live.clone(), pod, c)),
                        None => out.push(format!("{where_}/{}.log is missing", inst.restart)),
                    }
                }
            }
        }
        for link in &self.symlinks {
            if !link.target.is_absolute() {
                out.push(format!("{}: relative target", link.path.display()));
            }
            match targets.iter().position(|(t, _, _)| *t == link.target) {
                Some(i) => {
                    let (_, pod, c) = targets.swap_remove(i);
                    if (
                        link.pod.as_str(),
                        link.namespace.as_str(),
                        link.container.as_str(),
                    ) != (pod.pod.as_str(), pod.namespace.as_str(), c.name.as_str())
                    {
                        out.push(format!(
                            "{}: names another container than its target",
                            link.path.display()
                        ));
                    }
                    if link.container_id.len() != 64
                        || !link.container_id.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        out.push(format!(
                            "{}: container id is not 64 hex digits",
                            link.path.display()
                        ));
                    }
                }
                None => out.push(format!(
                    "{}: target {} is not an instance's live file",
                    link.path.display(),
                    link.target.display()
                )),
            }
        }
        for (t, _, _) in targets {
            out.push(format!("{}: no symlink", t.display()));
        }
        out
    }
}
