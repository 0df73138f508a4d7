//! The OpenAPI 3.0 definition of the `/ogc` endpoints (`GET /ogc/api`), built from the same
//! constants the handlers and `query::ogc` use (parameter names, limits, conformance), so the
//! definition cannot drift from the parameters the server takes: a test checks that every
//! parameter `/items` accepts is described and nothing else is.

use serde_json::{Value, json};

use super::ogc::COLLECTION;
use crate::model::Domain;
use crate::query::ogc::{DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};

/// `{"$ref": "#/components/parameters/NAME"}`.
fn param_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn problem(description: &str) -> Value {
    json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/problem"}}}})
}

fn ok(description: &str, media: &[(&str, Value)]) -> Value {
    let mut content = serde_json::Map::new();
    for (m, schema) in media {
        content.insert((*m).to_string(), json!({"schema": schema}));
    }
    content.insert("text/html".into(), json!({"schema": {"type": "string"}}));
    json!({"description": description, "content": content})
}

/// A parameter object, following `$ref`s into `doc`'s components.
pub fn resolve<'a>(doc: &'a Value, p: &'a Value) -> &'a Value {
    match p["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/parameters/")) {
        Some(name) => &doc["components"]["parameters"][name],
        None => p,
    }
}

/// The definition, with `server` (e.g. `http://127.0.0.1:8080/ogc`) as its one server.
pub fn definition(server: &str) -> Value {
    let items_path = format!("/collections/{COLLECTION}/items");
    let item_path = format!("/collections/{COLLECTION}/items/{{featureId}}");
    let domains: Vec<&str> = Domain::ALL.iter().map(|d| d.code()).collect();
    let json_doc = json!({"type": "object"});
    let geojson = json!({"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "sportello OGC API – Features",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Help desks for migrant workers as OGC API – Features Part 1 (Core, GeoJSON, HTML, OpenAPI 3.0).",
            "license": {"name": "AGPL-3.0-or-later"}
        },
        "servers": [{"url": server}],
        "paths": {
            "/": {"get": {"summary": "The landing page", "operationId": "getLandingPage", "tags": ["Capabilities"],
                "parameters": [param_ref("f")],
                "responses": {"200": ok("Links to the API definition, the conformance classes and the collections", &[("application/json", json_doc.clone())]), "400": problem("A bad parameter")}}},
            "/conformance": {"get": {"summary": "The conformance classes this server implements", "operationId": "getConformanceDeclaration", "tags": ["Capabilities"],
                "parameters": [param_ref("f")],
                "responses": {"200": ok("`conformsTo`: the classes' URIs", &[("application/json", json!({"type": "object", "required": ["conformsTo"], "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}}}))]), "400": problem("A bad parameter")}}},
            "/api": {"get": {"summary": "This API definition (as HTML: a page listing the endpoints)", "operationId": "getAPI", "tags": ["Capabilities"],
                "parameters": [param_ref("f")],
                "responses": {"200": ok("The OpenAPI 3.0 definition", &[("application/vnd.oai.openapi+json;version=3.0", json_doc.clone())]), "400": problem("A bad parameter")}}},
            "/collections": {"get": {"summary": "The collections: one, the help desks", "operationId": "getCollections", "tags": ["Capabilities"],
                "parameters": [param_ref("f")],
                "responses": {"200": ok("The collections with their extents", &[("application/json", json_doc.clone())]), "400": problem("A bad parameter")}}},
            (format!("/collections/{COLLECTION}")): {"get": {"summary": "The help desks' collection: description, extent, links", "operationId": "describeCollection", "tags": ["Capabilities"],
                "parameters": [param_ref("f")],
                "responses": {"200": ok("The collection", &[("application/json", json_doc.clone())]), "400": problem("A bad parameter"), "404": problem("No such collection")}}},
            items_path: {"get": {"summary": "The help desks, a page at a time", "operationId": "getFeatures", "tags": ["Data"],
                "parameters": [param_ref("bbox"), param_ref("limit"), param_ref("offset"), param_ref("datetime"), param_ref("lang"), param_ref("domain"), param_ref("audience"), param_ref("f")],
                "responses": {"200": ok("A FeatureCollection with `numberMatched`, `numberReturned`, `timeStamp` and `links` (`next`, `prev`)", &[("application/geo+json", geojson.clone())]), "400": problem("A bad parameter, named in `detail` and `invalid_params`")}}},
            item_path: {"get": {"summary": "One help desk, whatever its audience", "operationId": "getFeature", "tags": ["Data"],
                "parameters": [param_ref("featureId"), param_ref("f")],
                "responses": {"200": ok("The desk as a GeoJSON Feature with `links`", &[("application/geo+json", geojson)]), "400": problem("A bad parameter"), "404": problem("No desk has this id")}}},
        },
        "components": {
            "parameters": {
                "f": {"name": "f", "in": "query", "required": false, "description": "The format of the answer: `json` (default) or `html`. Without it, a client that asks for `text/html` first in `Accept` gets HTML.",
                    "schema": {"type": "string", "enum": ["json", "html"]}, "style": "form", "explode": false},
                "bbox": {"name": "bbox", "in": "query", "required": false, "description": "Only desks inside this box: minLon,minLat,maxLon,maxLat in WGS84 degrees (CRS84), or six numbers with heights (ignored); minLon > maxLon crosses the antimeridian.",
                    "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}, "style": "form", "explode": false},
                "limit": {"name": "limit", "in": "query", "required": false, "description": format!("Desks per page, default {DEFAULT_LIMIT}; at most {MAX_LIMIT} are returned (a larger limit is served as {MAX_LIMIT}, with `next` links for the rest)."),
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "style": "form", "explode": false},
                "offset": {"name": "offset", "in": "query", "required": false, "description": "Desks of the list to skip (the `next` and `prev` links set it). Positions refer to the bundle version named in `X-Bundle-Version`.",
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "style": "form", "explode": false},
                "datetime": {"name": "datetime", "in": "query", "required": false, "description": "An RFC 3339 date-time or interval (`..` for an open end). Desks have no temporal geometry: it is checked and selects nothing out.",
                    "schema": {"type": "string"}, "style": "form", "explode": false},
                "lang": {"name": "lang", "in": "query", "required": false, "description": "Desks that speak any of these languages (ISO 639-1 codes, or 639-3 where a language has none), comma-separated, at most 32.",
                    "schema": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{2,3}$"}, "maxItems": 32}, "style": "form", "explode": false},
                "domain": {"name": "domain", "in": "query", "required": false, "description": "Desks that offer any of these service domains, comma-separated.",
                    "schema": {"type": "array", "items": {"type": "string", "enum": domains}, "maxItems": Domain::ALL.len()}, "style": "form", "explode": false},
                "audience": {"name": "audience", "in": "query", "required": false, "description": "`public` (default): desks open to everyone; `unions`: desks for union representatives; `all`: every desk.",
                    "schema": {"type": "string", "enum": ["public", "unions", "all"], "default": "public"}, "style": "form", "explode": false},
                "featureId": {"name": "featureId", "in": "path", "required": true, "description": "A desk's id.", "schema": {"type": "string"}},
            },
            "schemas": {
                "problem": {"type": "object", "description": "RFC 9457 problem details", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                    "invalid_params": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "reason": {"type": "string"}}}}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_items_parameters_are_exactly_those_the_server_takes() {
        let doc = definition("http://localhost/ogc");
        let items = &doc["paths"][format!("/collections/{COLLECTION}/items")]["get"]["parameters"];
        let mut described: Vec<&str> = items.as_array().unwrap().iter().map(|p| resolve(&doc, p)["name"].as_str().unwrap()).collect();
        let mut taken = crate::query::ogc::ITEMS_PARAMS.to_vec();
        described.sort_unstable();
        taken.sort_unstable();
        assert_eq!(described, taken);
    }
}
