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

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Reads the tree under `<root>/var/log`. Any name the kubelet would not make is an error.
pub fn scan(root: &Path) -> Result<Tree, SimError> {
    let pods_dir = root.join("var/log/pods");
    let links_dir = root.join("var/log/containers");
    let mut tree = Tree::default();
    for (name, path) in names_in(&pods_dir)? {
        let f: Vec<&str> = name.split('_').collect();
        if f.len() != 3 || !is_dns_label(f[0]) || !is_dns_label(f[1]) || !is_uuid(f[2]) {
            return Err(corrupt(&path, "not <namespace>_<pod>_<uuid>"));
        }
        let mut pod = PodDir {
            namespace: f[0].into(),
            pod: f[1].into(),
            uid: f[2].into(),
            path: path.clone(),
            containers: vec![],
        };
        for (cname, cpath) in names_in(&path)? {
            if !is_dns_label(&cname) || !cpath.is_dir() {
                return Err(corrupt(&cpath, "not a container directory"));
            }
            pod.containers.push(ContainerDir {
                name: cname,
                instances: scan_instances(&cpath)?,
            });
        }
        tree.pods.push(pod);
    }
    for (name, path) in names_in(&links_dir)? {
        let bad = || corrupt(&path, "not <pod>_<namespace>_<container>-<id>.log");
        let stem = name.strip_suffix(".log").ok_or_else(bad)?;
        let f: Vec<&str> = stem.split('_').collect();
        let (container, id) = f
            .get(2)
            .and_then(|rest| rest.rsplit_once('-'))
            .ok_or_else(bad)?;
        if f.len() != 3 || !is_dns_label(container) {
            return Err(bad());
        }
        let target = std::fs::read_link(&path).map_err(SimError::io("read link", &path))?;
        tree.symlinks.push(Symlink {
            path: path.clone(),
            pod: f[0].into(),
            namespace: f[1].into(),
            container: container.into(),
            container_id: id.into(),
            target,
        });
    }
    Ok(tree)
}

fn scan_instances(dir: &Path) -> Result<Vec<InstanceFiles>, SimError> {
    let mut out: Vec<InstanceFiles> = Vec::new();
    for (name, path) in names_in(dir)? {
        let bad = || corrupt(&path, "not <n>.log or <n>.log.<YYYYMMDD-HHMMSS>[.gz]");
        let (num, rest) = name.split_once(".log").ok_or_else(bad)?;
        let restart: u32 = num.parse().map_err(|_| bad())?;
        if num != restart.to_string() {
            return Err(bad());
        }
        let i = match out.iter().position(|x| x.restart == restart) {
            Some(i) => i,
            None => {
                out.push(InstanceFiles {
                    restart,
                    live: None,
                    rotated: vec![],
                });
                out.len() - 1
            }
        };
        if rest.is_empty() {
            out[i].live = Some(path);
            continue;
        }
        let rest = rest.strip_prefix('.').ok_or_else(bad)?;
        let (stamp, gzipped) = match rest.strip_suffix(".gz") {
            Some(s) => (s, true),
            None => (rest, false),
        };
        let b = stamp.as_bytes();
        let ok = b.len() == 15
            && b[8] == b'-'
            && b.iter()
                .enumerate()
                .all(|(j, c)| j == 8 || c.is_ascii_digit());
        if !ok {
            return Err(bad());
        }
        out[i].rotated.push(RotatedFile {
            path,
            stamp: stamp.into(),
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
