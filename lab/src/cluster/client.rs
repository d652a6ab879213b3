//! kube-rs clients from the lab's kubeconfigs.

use std::path::Path;

/// A client for the identity and server in `kubeconfig`.
pub async fn from_kubeconfig(kubeconfig: &Path) -> Result<kube::Client, kube::Error> {
    let kc =
        kube::config::Kubeconfig::read_from(kubeconfig).map_err(kube::Error::InferKubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(kube::Error::InferKubeconfig)?;
    kube::Client::try_from(config)
}
