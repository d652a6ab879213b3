//! A pod's volumes: emptyDir and configMap, made in the pod's directory
//! and bound into its containers by [`super::runtime`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::Api;

use super::NodeCtx;

/// The volumes' directories: emptyDir made empty, configMap keys written
/// as files (all keys, or `items`).
pub(super) async fn volumes(
    ctx: &NodeCtx,
    pod: &Pod,
    dir: &std::path::Path,
) -> Result<Vec<(String, PathBuf)>, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = Vec::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let vdir = dir.join("volumes").join(&v.name);
        std::fs::create_dir_all(&vdir).map_err(|e| format!("creating {}: {e}", vdir.display()))?;
        if let Some(cm) = &v.config_map {
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
            // Retried as kubelet's volume manager retries a mount: the Node
            // authorizer learns of a pod's ConfigMaps from its own watch,
            // so a kubelet that asks at once may be refused ("no
            // relationship found") for a moment.
            let mut wait = Duration::from_millis(50);
            let give_up = Instant::now() + Duration::from_secs(120);
            let obj = loop {
                match api.get(&cm.name).await {
                    Ok(obj) => break obj,
                    Err(e) if Instant::now() < give_up => {
                        tracing::debug!("configMap {:?}: {e}; retrying in {wait:?}", cm.name);
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => {
                        return Err(format!(
                            "configMap {:?} of volume {:?}: {e}",
                            cm.name, v.name
                        ));
                    }
                }
            };
            let data = obj.data.unwrap_or_default();
            let items: Vec<(String, String)> = match &cm.items {
                Some(items) => items
                    .iter()
                    .map(|k| (k.key.clone(), k.path.clone()))
                    .collect(),
                None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
            };
            for (k, path) in items {
                let text = data.get(&k).cloned().unwrap_or_default();
                let p = vdir.join(&path);
                if let Some(parent) = p.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                std::fs::write(&p, text).map_err(|e| format!("writing {}: {e}", p.display()))?;
            }
        }
        out.push((v.name.clone(), vdir));
    }
    Ok(out)
}

/// A container's (volume directory, mount path) pairs.
pub(super) fn mounts_of(
    pod: &Pod,
    container: &str,
    dir: &std::path::Path,
) -> Vec<(PathBuf, String)> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter(|c| c.name == container)
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .map(|m| (dir.join("volumes").join(&m.name), m.mount_path.clone()))
        .collect()
}
