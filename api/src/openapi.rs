//! The OpenAPI 3.1 document served at `/openapi.json`, assembled from the resources' own
//! parts: each route's operation comes from its handler's `#[utoipa::path]`, each body's
//! schema from the type the handler reads or answers, and each operation's security and
//! access from the access table the middleware enforces. Here are only what every operation
//! shares: the document's title, the bearer scheme, and the errors any route can answer.

use std::sync::Arc;

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::Required;
use utoipa::openapi::{ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use crate::http::access::{operations, Access, AccessTable, Resource};
use crate::http::error::Problem;

/// The document as served, serialized once.
#[derive(Debug, Clone)]
pub struct Document(pub Arc<String>);

/// The whole document: every resource's part, each operation's security from `table`, and
/// the errors every operation may answer.
pub fn document(resources: &[Resource], table: &AccessTable) -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("prconfirm")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Confirming permanent residence online: the case back end.",
                ))
                .build(),
        )
        .build();
    for resource in resources {
        doc.merge(resource.document().clone());
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components
        .schemas
        .insert(Problem::name().into_owned(), Problem::schema());
    secure(&mut doc, table);
    common_errors(&mut doc, table);
    doc
}

/// The document for `/openapi.json`.
pub fn serialized(resources: &[Resource], table: &AccessTable) -> Document {
    let doc = document(resources, table);
    Document(Arc::new(serde_json::to_string(&doc).unwrap_or_default()))
}

/// Who may call each operation, from the table: a bearer token for all but `Anyone`, and
/// the roles in the operation's description.
fn secure(doc: &mut OpenApi, table: &AccessTable) {
    for (path, item) in &mut doc.paths.paths {
        let methods: Vec<_> = operations(item).map(|(m, _)| m).collect();
        for method in methods {
            let Some(op) = operation_mut(item, &method) else {
                continue;
            };
            let who = match table.access(&method, path) {
                Some(Access::Anyone) | None => continue,
                Some(Access::SignedIn) => "any signed-in caller".to_owned(),
                Some(Access::Roles(roles)) => roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            op.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
            if method != axum::http::Method::GET {
                op.parameters
                    .get_or_insert_with(Vec::new)
                    .push(idempotency_key());
            }
            let described = op.description.take().unwrap_or_default();
            op.description = Some(format!("{described}\n\nCallers: {who}.").trim().to_owned());
        }
    }
}

/// The `Idempotency-Key` header, which the middleware honours on every signed-in caller's
/// request but a GET.
fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The same key with the same request answers as the first time, without a second \
             effect (`Idempotent-Replayed: true`); with another request, 422. Per caller.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[!-~]{1,128}$")),
        ))
        .build()
}

fn operation_mut<'a>(
    item: &'a mut utoipa::openapi::PathItem,
    method: &axum::http::Method,
) -> Option<&'a mut utoipa::openapi::path::Operation> {
    use axum::http::Method;
    match *method {
        Method::GET => item.get.as_mut(),
        Method::PUT => item.put.as_mut(),
        Method::POST => item.post.as_mut(),
        Method::DELETE => item.delete.as_mut(),
        Method::PATCH => item.patch.as_mut(),
        _ => None,
    }
}

/// Errors any operation can answer, documented on every operation that does not list them:
/// a problem document each.
fn common_errors(doc: &mut OpenApi, table: &AccessTable) {
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let common: &[(&str, &str, bool)] = &[
        (
            "400",
            "malformed body; a NUL byte (%00) in the path or query; a path that is not UTF-8",
            false,
        ),
        ("401", "no live session", true),
        ("403", "role not allowed, or temporary password", true),
        ("404", "no such resource", false),
        (
            "405",
            "method not served on this path; Allow lists those that are",
            false,
        ),
        ("409", "not ready for this step, or a lost race", false),
        ("412", "If-Match names an old version", false),
        (
            "413",
            "body too large (refused from Content-Length before it is read)",
            false,
        ),
        ("415", "wrong content type", false),
        ("422", "a value out of the rules", false),
        ("429", "too many attempts", false),
        ("500", "internal error (nothing internal shown)", false),
        ("501", "a method no HTTP standard defines", false),
        ("503", "storage briefly unavailable; Retry-After", false),
    ];
    for (path, item) in &mut doc.paths.paths {
        let methods: Vec<_> = operations(item).map(|(m, _)| m).collect();
        for method in methods {
            let secured = !matches!(table.access(&method, path), Some(Access::Anyone) | None);
            let Some(op) = operation_mut(item, &method) else {
                continue;
            };
            for (code, description, needs_auth) in common {
                if *needs_auth && !secured {
                    continue;
                }
                op.responses
                    .responses
                    .entry((*code).to_owned())
                    .or_insert_with(|| problem(description).into());
            }
        }
    }
}
