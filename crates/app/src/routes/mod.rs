//! The routes: each module exposes its handlers; this one assembles them, the
//! fallbacks and the layers, and derives `/openapi.json` from the same list.

pub(crate) mod auth;
mod cart;
pub(crate) mod catalog;
mod checkout;
mod counter;
pub(crate) mod handover;
mod health;
pub(crate) mod introspect;
pub(crate) mod notifications;
mod order_input;
pub(crate) mod orders;
pub(crate) mod outbox;
mod session;
mod sessions_of_user;
pub(crate) mod users;
mod web;

use std::sync::LazyLock;

use std::convert::Infallible;

use axum::extract::Request;
use axum::response::Response;
use tower::{Service, ServiceBuilder};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::middleware::{ObserveLayer, RouteLabels};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "statecraft",
        description = "The same application with its state in memory, a store, or the client. \
                       Every error is {\"error\": string, \"code\": string}."
    ),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(counter::increment))
        .routes(routes!(counter::increment_named))
        .routes(routes!(counter::get_named))
        .routes(routes!(cart::get_cart, cart::clear_cart))
        .routes(routes!(cart::add_item))
        .routes(routes!(cart::set_quantity, cart::remove_item))
        .routes(routes!(session::summary))
        .routes(routes!(session::whoami))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::token))
        .routes(routes!(auth::refresh))
        .routes(routes!(introspect::token_status))
        .routes(routes!(auth::profile))
        .routes(routes!(
            sessions_of_user::list_sessions,
            sessions_of_user::end_sessions
        ))
        .routes(routes!(auth::jwks))
        .routes(routes!(users::register))
        .routes(routes!(checkout::start))
        .routes(routes!(checkout::shipping))
        .routes(routes!(checkout::payment))
        .routes(routes!(checkout::confirm))
        .routes(routes!(orders::create, orders::list))
        .routes(routes!(orders::get_one))
        .routes(routes!(catalog::products))
        .routes(routes!(catalog::availability))
        .routes(routes!(notifications::notifications))
        .routes(routes!(outbox::outbox))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::openapi_json))
        .routes(routes!(web::index))
        .routes(routes!(web::shop))
        .routes(routes!(web::cluster))
        .routes(routes!(web::lab))
        .routes(routes!(web::asset))
}

/// The OpenAPI document of every route, generated from the handlers, with the
/// one error shape as every operation's `default` answer: any route can also
/// answer 400, 413 or 415 for a bad body, 405, 500 or 503, always in that shape.
pub fn openapi() -> utoipa::openapi::OpenApi {
    document(None)
}

/// The document of the application's routes and `extra`'s.
fn document(extra: Option<utoipa::openapi::OpenApi>) -> utoipa::openapi::OpenApi {
    let mut doc = api().into_openapi();
    if let Some(extra) = extra {
        doc.merge(extra);
    }
    let error = utoipa::openapi::ResponseBuilder::new()
        .description("An error, in the one shape of every error (see ErrorBody)")
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for operation in operations(&mut doc) {
        operation
            .responses
            .responses
            .entry("default".to_owned())
            .or_insert_with(|| error.clone().into());
    }
    add_links(&mut doc);
    doc
}

/// Every operation of `doc`.
fn operations(
    doc: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        let utoipa::openapi::PathItem {
            get,
            put,
            post,
            delete,
            patch,
            ..
        } = item;
        [get, put, post, delete, patch].into_iter().flatten()
    })
}

/// What a success makes possible next (OpenAPI links), so that stateful
/// fuzzing (schemathesis) follows a created order to its page, a counter to its
/// reading, a token to its refresh. (No cart links: a cart is the session's,
/// and a link cannot carry the cookie from `Set-Cookie` to the next request,
/// so a linked call would find another, empty session.)
struct LinkSpec {
    /// The operation whose success makes the link.
    from: &'static str,
    /// Its success status.
    status: &'static str,
    name: &'static str,
    /// The operation it leads to.
    to: &'static str,
    /// The target's parameters, as runtime expressions.
    parameters: &'static [(&'static str, &'static str)],
    /// The target's request body, if any.
    body: Option<fn() -> serde_json::Value>,
}

/// From an operation answering `201` with an order to that order's page.
const fn to_the_order(from: &'static str) -> LinkSpec {
    LinkSpec {
        from,
        status: "201",
        name: "GetOrder",
        to: "get_one",
        parameters: &[("id", "$response.body#/orderId")],
        body: None,
    }
}

const LINKS: &[LinkSpec] = &[
    to_the_order("create"),
    to_the_order("confirm"),
    LinkSpec {
        from: "increment_named",
        status: "200",
        name: "GetCounter",
        to: "get_named",
        parameters: &[("name", "$request.path.name")],
        body: None,
    },
    LinkSpec {
        from: "token",
        status: "200",
        name: "Refresh",
        to: "refresh",
        parameters: &[],
        body: Some(refresh_body),
    },
];

fn refresh_body() -> serde_json::Value {
    serde_json::json!({ "refreshToken": "$response.body#/refreshToken" })
}

fn add_links(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::link::LinkBuilder;
    for spec in LINKS {
        let mut link = LinkBuilder::new().operation_id(spec.to);
        for (parameter, expression) in spec.parameters {
            link = link.parameter(*parameter, *expression);
        }
        let link = link.request_body(spec.body.map(|make| make())).build();
        let source = operations(doc).find(|o| o.operation_id.as_deref() == Some(spec.from));
        if let Some(RefOr::T(response)) =
            source.and_then(|o| o.responses.responses.get_mut(spec.status))
        {
            response.links.insert(spec.name.to_owned(), RefOr::T(link));
        }
    }
}

/// The routes' path templates, the `route` label of the request metrics: made
/// once and held here for the life of the process (leaked strings would be
/// lost memory to a leak checker).
static ROUTE_TEMPLATES: LazyLock<Vec<String>> =
    LazyLock::new(|| api().into_openapi().paths.paths.into_keys().collect());

/// `/openapi.json`, rendered once.
static OPENAPI_JSON: LazyLock<String> = LazyLock::new(|| render(&openapi()));

/// The document as JSON. utoipa 5.5 writes a link's fields in snake case
/// (`operation_id`, `request_body`, `operation_ref`), which no OpenAPI tool
/// reads; they are renamed to the specification's camel case here.
fn render(doc: &utoipa::openapi::OpenApi) -> String {
    let Ok(mut json) = serde_json::to_value(doc) else {
        return "{}".to_owned();
    };
    let links = json["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation["responses"].as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links")?.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(serde_json::Value::as_object_mut);
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("request_body", "requestBody"),
            ("operation_ref", "operationRef"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
    json.to_string()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("Route not found".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The application for `state`: every route, JSON fallbacks for unknown routes and
/// methods, and around the whole router (not each route, which would cost a
/// boxed clone per layer per request) the observing layer and panic
/// containment (both in `ObserveLayer`). The body limit is applied where bodies are read (`extract`).
pub fn app(
    state: AppState,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    app_with(state, None)
}

/// Routes served beside the application's own (the lab's, added by the
/// command that serves them), with their OpenAPI document: they answer
/// what the application's routes do not, and their paths join
/// `/openapi.json`.
#[derive(Clone)]
pub struct Extension {
    /// The routes (their own fallback answers what they do not know).
    pub router: axum::Router,
    /// Their OpenAPI document.
    pub openapi: utoipa::openapi::OpenApi,
}

impl std::fmt::Debug for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extension")
            .field(
                "paths",
                &self.openapi.paths.paths.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// [`app`] with `extension`'s routes beside its own.
pub fn app_with(
    state: AppState,
    extension: Option<Extension>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    if let Some(extension) = &extension {
        let doc = document(Some(extension.openapi.clone()));
        let _ = state.openapi_json.set(render(&doc));
    }
    let (routes, _) = api().split_for_parts();
    let templates: Vec<&'static str> = ROUTE_TEMPLATES.iter().map(String::as_str).collect();
    let observe = ObserveLayer::new(state.observed(), RouteLabels::new(templates));
    // Internal, so outside the OpenAPI document.
    let routes = routes
        .route(
            "/_internal/sessions",
            axum::routing::get(handover::export).post(handover::import),
        )
        .route(
            "/_internal/revocations",
            axum::routing::post(crate::revocation::receive),
        );
    let routes = match extension {
        Some(extension) => routes.fallback_service(extension.router),
        None => routes.fallback(not_found),
    };
    let app = routes
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    ServiceBuilder::new().layer(observe).service(app)
}

#[cfg(test)]
mod tests {
    use super::{LINKS, openapi, operations};

    /// Links as OpenAPI tools read them: `operationId`, `requestBody`.
    #[test]
    fn links_are_written_in_camel_case() {
        let doc: serde_json::Value = serde_json::from_str(&super::OPENAPI_JSON).unwrap();
        let link = &doc["paths"]["/orders"]["post"]["responses"]["201"]["links"]["GetOrder"];
        assert_eq!(link["operationId"], "get_one", "{link}");
        assert!(link.get("operation_id").is_none());
        let refresh = &doc["paths"]["/token"]["post"]["responses"]["200"]["links"]["Refresh"];
        assert_eq!(
            refresh["requestBody"]["refreshToken"],
            "$response.body#/refreshToken"
        );
    }

    /// A renamed operation would silently drop a link: every link's source
    /// response carries it, and its target exists.
    #[test]
    fn every_link_joins_two_documented_operations() {
        let mut doc = openapi();
        let ids: Vec<String> = operations(&mut doc)
            .filter_map(|o| o.operation_id.clone())
            .collect();
        for spec in LINKS {
            assert!(
                ids.iter().any(|id| id == spec.to),
                "no operation {}",
                spec.to
            );
            let source = operations(&mut doc)
                .find(|o| o.operation_id.as_deref() == Some(spec.from))
                .unwrap_or_else(|| panic!("no operation {}", spec.from));
            let linked = match source.responses.responses.get(spec.status) {
                Some(utoipa::openapi::RefOr::T(response)) => response.links.contains_key(spec.name),
                _ => false,
            };
            assert!(
                linked,
                "{} {} lacks its link {}",
                spec.from, spec.status, spec.name
            );
        }
    }
}
