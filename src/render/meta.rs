//! Every child's metadata and selectors, built from the stack's names and labels ([`crate::names`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::names::{Component, labels, selector_labels};
use crate::spec::Stack;

/// A label selector matching exactly the pods of a component.
pub fn selector(stack: &Stack, component: Component) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(stack, component)),
        ..Default::default()
    }
}

/// Metadata of a child: its name, the parent's namespace and the component's labels. Metacontroller adds
/// the owner reference and the `controller-uid` label.
pub fn metadata(stack: &Stack, component: Component, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(stack.namespace.clone()),
        labels: Some(labels(stack, component)),
        ..Default::default()
    }
}
