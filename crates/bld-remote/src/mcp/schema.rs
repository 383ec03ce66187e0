//! JSON Schemas of the tools, from Rust types (schemars), without the decoration that costs an
//! agent context and says nothing: `tools/list` is read by the model at every session start, so
//! every character of it counts (a test holds the whole reply under 8,000 characters).

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde_json::{Value, json};
use std::sync::Arc;

/// A tool's `inputSchema`, from its argument type (schemars' deserialize contract: what the
/// tool accepts). Compact: see [`compact_input`].
pub fn input<T: JsonSchema>() -> Arc<JsonObject> {
    let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schemas serialize");
    let (mut schema, defs) = without_root_decoration(schema);
    compact_input(&mut schema, &defs);
    Arc::new(object(schema))
}

/// A tool's `outputSchema`, from the type its structured content is serialised from
/// (schemars' serialize contract: what the tool sends). `$ref`s are inlined and descriptions,
/// number formats and `additionalProperties: true` (the default) left out; unlike an input
/// schema, `null` stays in a type: a field sent as null must validate.
pub fn output<T: JsonSchema>() -> Arc<JsonObject> {
    let generator = schemars::generate::SchemaSettings::default()
        .for_serialize()
        .into_generator();
    let schema =
        serde_json::to_value(generator.into_root_schema_for::<T>()).expect("schemas serialize");
    let (mut schema, defs) = without_root_decoration(schema);
    compact_output(&mut schema, &defs);
    Arc::new(object(schema))
}

/// The schema without `$schema` and `title`, and its `$defs` taken out (to be inlined).
fn without_root_decoration(mut schema: Value) -> (Value, Value) {
    let defs = schema
        .as_object_mut()
        .and_then(|object| object.remove("$defs"))
        .unwrap_or(Value::Null);
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    (schema, defs)
}

/// What schemars writes that a model does not need in an argument's schema: `"default": null`
/// on optional arguments, `format` hints (`uint64`, `double`), `null` in the type of an
/// argument that is optional anyway, `$ref`s to `$defs` (inlined, without their doc comment),
/// and `"additionalProperties": false` (the server refuses an unknown argument anyway, as
/// invalid params naming it: `args::decode`).
fn compact_input(value: &mut Value, defs: &Value) {
    match value {
        Value::Object(map) => {
            inline_ref(map, defs);
            if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                map.remove("additionalProperties");
            }
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            map.remove("format");
            if let Some(Value::Array(types)) = map.get("type") {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if kept.len() == 1 {
                    map.insert("type".into(), kept[0].clone());
                }
            }
            if let Some(Value::Array(options)) = map.get("anyOf") {
                let kept: Vec<Value> = options
                    .iter()
                    .filter(|o| o.get("type") != Some(&json!("null")))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    map.remove("anyOf");
                    if let Value::Object(only) = &kept[0] {
                        for (key, v) in only.clone() {
                            map.entry(key).or_insert(v);
                        }
                    }
                }
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if let Some(child) = map.get_mut(&key) {
                    compact_input(child, defs);
                }
            }
            // Inlining may have brought in a `$ref` again (nested definitions).
            if map.contains_key("$ref") {
                compact_input(value, defs);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| compact_input(item, defs)),
        _ => {}
    }
}

/// An output schema's nodes: `$ref`s inlined; descriptions, formats and
/// `additionalProperties: true` left out.
fn compact_output(node: &mut Value, defs: &Value) {
    let Value::Object(map) = node else {
        return;
    };
    inline_ref(map, defs);
    map.remove("description");
    map.remove("format");
    if map.get("additionalProperties") == Some(&Value::Bool(true)) {
        map.remove("additionalProperties");
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties
            .values_mut()
            .for_each(|property| compact_output(property, defs));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            compact_output(child, defs);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(options)) = map.get_mut(key) {
            options
                .iter_mut()
                .for_each(|option| compact_output(option, defs));
        }
    }
    // Inlining may have brought in a `$ref` again (nested definitions).
    if map.contains_key("$ref") {
        compact_output(node, defs);
    }
}

/// Replaces a `$ref` to `$defs` by the definition's keys (not its doc comment).
fn inline_ref(map: &mut JsonObject, defs: &Value) {
    if let Some(Value::String(target)) = map.get("$ref") {
        let name = target.trim_start_matches("#/$defs/");
        if let Some(Value::Object(def)) = defs.get(name) {
            let mut def = def.clone();
            def.remove("description");
            map.remove("$ref");
            for (key, v) in def {
                map.entry(key).or_insert(v);
            }
        }
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("schemas are objects"),
    }
}
