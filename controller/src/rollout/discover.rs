//! Which Services route to the Deployment's pods: their EndpointSlices are
//! what we watch for endpoint events.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use kube::{Api, Client};

use super::error::{Call, Error, Result, is_not_found};

/// The label the EndpointSlice controller puts on every slice of a Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Does a Service selector pick pods with these labels? An empty or absent
/// selector selects nothing (such Services have hand-made endpoints).
pub fn selects(
    selector: Option<&BTreeMap<String, String>>,
    labels: &BTreeMap<String, String>,
) -> bool {
    match selector {
        Some(sel) if !sel.is_empty() => sel.iter().all(|(k, v)| labels.get(k) == Some(v)),
        _ => false,
    }
}

/// The Services to follow: the `given` names, each checked to exist, or, when
/// none are given, every Service in the namespace whose selector matches the
/// pod template's labels. Sorted by name.
pub async fn services(
    client: &Client,
    namespace: &str,
    pod_labels: &BTreeMap<String, String>,
    given: &[String],
) -> Result<Vec<String>> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let mut names = Vec::new();
    if given.is_empty() {
        let list = api.list(&ListParams::default()).await.map_err(|e| {
            Call {
                verb: "list",
                resource: "services",
                name: None,
                namespace,
            }
            .error(e)
        })?;
        for svc in list.items {
            let selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref());
            if selects(selector, pod_labels)
                && let Some(name) = svc.metadata.name
            {
                names.push(name);
            }
        }
    } else {
        for name in given {
            api.get(name).await.map_err(|e| {
                if is_not_found(&e) {
                    Error::ServiceNotFound {
                        namespace: namespace.to_owned(),
                        name: name.clone(),
                    }
                } else {
                    Call {
                        verb: "get",
                        resource: "services",
                        name: Some(name),
                        namespace,
                    }
                    .error(e)
                }
            })?;
            names.push(name.clone());
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The label selector for the EndpointSlices of these Services.
pub fn slice_selector(services: &[String]) -> String {
    match services {
        [one] => format!("{SERVICE_NAME_LABEL}={one}"),
        many => format!("{SERVICE_NAME_LABEL} in ({})", many.join(",")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_matching() {
        let labels = map(&[("app", "web"), ("tier", "front")]);
        assert!(selects(Some(&map(&[("app", "web")])), &labels));
        assert!(selects(
            Some(&map(&[("app", "web"), ("tier", "front")])),
            &labels
        ));
        assert!(!selects(Some(&map(&[("app", "api")])), &labels));
        assert!(!selects(Some(&map(&[("app", "web"), ("x", "y")])), &labels));
        assert!(!selects(Some(&map(&[])), &labels));
        assert!(!selects(None, &labels));
    }

    #[test]
    fn slice_selectors() {
        assert_eq!(
            slice_selector(&["web".into()]),
            "kubernetes.io/service-name=web"
        );
        assert_eq!(
            slice_selector(&["a".into(), "b".into()]),
            "kubernetes.io/service-name in (a,b)"
        );
    }
}
