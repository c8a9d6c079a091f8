//! The sync, in the order it runs: the server has decoded the request; here the spec is checked, the
//! related objects read, the configuration derived, the children rendered, the objects in their way found and
//! the status computed. This is the one module above [`crate::render`] and [`crate::status`]: both read the
//! inputs ([`crate::spec`], [`crate::related`]) and the stack's names ([`crate::names`]), and neither imports
//! the other.

use crate::hook::{Child, CustomizeRequest, CustomizeResponse, SyncRequest, SyncResponse};
use crate::render;
use crate::spec::Stack;
use crate::status::conflicts;
use crate::{Result, related, status};

/// The sync hook: every desired child and the full status, or an error. Never a partial answer.
pub fn sync(request: &SyncRequest) -> Result<SyncResponse> {
    if request.finalizing {
        // The same guard as a sync: an answer to a request of another shape could leave out a claim.
        request.check_shape()?;
        return finalize(request);
    }
    let stack = Stack::from_parent(&request.parent)?;
    request.check_shape()?;
    tracing::debug!(
        "Parsing PrometheusReplica {} in {}",
        stack.name,
        stack.namespace
    );
    let mut related = related::resolve(&stack, request)?;
    let mut warnings = stack.warnings.clone();
    warnings.extend(related.warnings.iter().cloned());
    let config = render::config::derived(&stack, related.config.take(), request, &mut warnings)?;
    let render::Rendered {
        children,
        pending_immutable,
        problems: claim_problems,
    } = render::children(&stack, &related, config.child, request, &mut warnings)?;
    // In the order status reports them: the configuration's, the bucket's, the claims', the objects in the way.
    let mut problems: Vec<_> = config.problem.into_iter().collect();
    problems.extend(related.problems);
    problems.extend(claim_problems);
    problems.extend(conflicts::problems(&stack, request, &children));
    let status = status::status(&stack, request, &problems, pending_immutable, warnings)?;
    tracing::debug!(
        "Status of PrometheusReplica {} is now {:?}",
        stack.name,
        status.phase.unwrap_or(crate::api::Phase::Install)
    );
    Ok(SyncResponse {
        status,
        children,
        resync_after_seconds: 0,
        finalized: None,
    })
}

/// The finalize hook (the sync route, with `finalizing: true`): the parent is being deleted. Every claim is
/// released first (see [`render::claims::released`]), so that the garbage collector, which deletes the parent's
/// children once it is gone, keeps the data volumes, as the StatefulSets' `Retain` policy means. Nothing else is
/// answered: the rest is deleted now, as the garbage collector would; nothing of the spec is read, so that an
/// invalid spec cannot hold the deletion up. The status is the stored one, so that it is not written.
fn finalize(request: &SyncRequest) -> Result<SyncResponse> {
    let claims = render::claims::released(request)?;
    let finalized = claims.is_empty();
    let status = serde_json::from_value(request.parent["status"].clone()).unwrap_or_default();
    Ok(SyncResponse {
        status,
        children: claims
            .into_iter()
            .map(Child::PersistentVolumeClaim)
            .collect(),
        // Until the claims are no longer observed (released), come back soon.
        resync_after_seconds: if finalized { 0 } else { 1 },
        finalized: Some(finalized),
    })
}

/// The customize hook: the objects every sync of this parent needs in `related`: the ConfigMap and the
/// Secret of the spec, whatever already bears the name of a child (see [`conflicts`]), and the
/// StorageClasses (see [`render::claims`]). The children's
/// names come from rendering them as without related objects: they depend on the spec alone.
pub fn customize(request: &CustomizeRequest) -> Result<CustomizeResponse> {
    let stack = Stack::from_parent(&request.parent)?;
    let plain = SyncRequest {
        parent: request.parent.clone(),
        ..Default::default()
    };
    let children = render::children(
        &stack,
        &related::resolve(&stack, &plain)?,
        None,
        &plain,
        &mut Vec::new(),
    )?
    .children;
    let mut related_resources = related::rules(&stack);
    related_resources.extend(conflicts::rules(&stack, &children));
    related_resources.push(render::claims::rule());
    Ok(CustomizeResponse { related_resources })
}
