//! Looking at the scene: its settings and objects (`get_scene_info`), one object
//! (`get_object_info`), a picture (`get_viewport_screenshot`).

use crate::mcp::args::wire_name;
use crate::mcp::server::BlenderMcp;
use crate::mcp::tool::{BlenderObject, Context, Hints, ImageOnly, Outcome, READ, Tool, routed};
use crate::mcp::tool_result::{scene_result, tool_error};
use bld_remote_protocol::{CaptureCamera, CaptureSource, Command, Screenshot, ScreenshotFormat};
use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Objects per `get_scene_info` page when the caller gives no limit.
const SCENE_PAGE: u64 = 100;

pub struct GetSceneInfo;

impl Tool for GetSceneInfo {
    const NAME: &'static str = "get_scene_info";
    const DESCRIPTION: &'static str = "Scene settings and a page of its objects (100 by default; next_offset for more; fields picks columns).";
    const HINTS: Hints = READ;
    type Args = SceneInfoArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: SceneInfoArgs, _: &Context) -> Outcome {
        let routed = routed!(server, None, args.blender.as_deref());
        let server = &routed.server;
        let command = Command::GetSceneInfo {
            // A page by default: an agent's context is the scarce resource.
            limit: Some(args.limit.unwrap_or(SCENE_PAGE)),
            offset: args.offset,
        };
        let mut result = match server.call_control(command, 0.0).await {
            Ok(value) => value,
            Err(error) => return Ok(error),
        };
        if let (Some(fields), Some(objects)) = (
            args.fields,
            result.get_mut("objects").and_then(Value::as_array_mut),
        ) {
            let keep: Vec<String> = fields.iter().map(wire_name).collect();
            for object in objects.iter_mut().filter_map(Value::as_object_mut) {
                object.retain(|key, _| keep.iter().any(|f| f == key));
            }
        }
        Ok(scene_result(result))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneInfoArgs {
    /// Objects per page (default 100).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The previous page's next_offset.
    #[serde(default)]
    pub offset: Option<u64>,
    /// Columns (default: all).
    #[serde(default)]
    pub fields: Option<Vec<SceneField>>,
    /// From list_blenders, a session, or `any`.
    #[serde(default)]
    pub blender: Option<String>,
}

/// The fields of an object in `get_scene_info` (docs/protocol.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SceneField {
    Name,
    Type,
    Location,
    Visible,
    Parent,
}

pub struct GetObjectInfo;

impl Tool for GetObjectInfo {
    const NAME: &'static str = "get_object_info";
    const DESCRIPTION: &'static str =
        "One object: transform, dimensions, materials, modifiers, mesh counts.";
    const HINTS: Hints = READ;
    type Args = ObjectNameArgs;
    type Output = BlenderObject;

    async fn call(server: &BlenderMcp, args: ObjectNameArgs, _: &Context) -> Outcome {
        let routed = routed!(server, None, args.blender.as_deref());
        let server = &routed.server;
        let command = Command::GetObjectInfo {
            object_name: args.object_name,
        };
        server.control(command, 0.0).await
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectNameArgs {
    pub object_name: String,
    /// From list_blenders, a session, or `any`.
    #[serde(default)]
    pub blender: Option<String>,
}

pub struct GetViewportScreenshot;

impl Tool for GetViewportScreenshot {
    const NAME: &'static str = "get_viewport_screenshot";
    const DESCRIPTION: &'static str = "PNG of the 3D view. Headless: a render (solid: material colours flat; material: colours lit; rendered: Cycles). Frames the objects, not a ground plane.";
    const HINTS: Hints = READ;
    type Args = ScreenshotArgs;
    type Output = ImageOnly;

    async fn call(server: &BlenderMcp, args: ScreenshotArgs, _: &Context) -> Outcome {
        let routed = routed!(server, None, args.blender.as_deref());
        let server = &routed.server;
        let command = Command::GetViewportScreenshot {
            max_size: args.max_size,
            format: Some(ScreenshotFormat::Png),
            filepath: None,
            view: args.view.as_ref().map(wire_name),
            azimuth: args.azimuth,
            elevation: args.elevation,
            shading: args.shading.as_ref().map(wire_name),
        };
        let reply = match server.call_control(command, 120.0).await {
            Ok(value) => value,
            Err(error) => return Ok(error),
        };
        let (shot, data) = match serde_json::from_value::<Screenshot>(reply.clone()) {
            Ok(mut shot) => match shot.image_base64.take() {
                Some(data) => (shot, data),
                None => return Ok(tool_error(format!("Blender returned no image: {reply}"))),
            },
            Err(_) => return Ok(tool_error(format!("Blender returned no image: {reply}"))),
        };
        let caption = format!(
            "{}x{} PNG ({})",
            shot.width,
            shot.height,
            caption(&args, &shot)
        );
        Ok(CallToolResult::success(vec![
            ContentBlock::image(data, "image/png"),
            ContentBlock::text(caption),
        ]))
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenshotArgs {
    /// Longest side in pixels (default 800).
    #[serde(default)]
    #[schemars(range(min = 16, max = 8192))]
    pub max_size: Option<u32>,
    /// Where from (default current; angle: with azimuth/elevation).
    #[serde(default)]
    pub view: Option<View>,
    /// Degrees around Z (0 front, 90 right).
    #[serde(default)]
    pub azimuth: Option<f64>,
    /// Degrees above the ground, -90–90.
    #[serde(default)]
    pub elevation: Option<f64>,
    /// Default: as it is.
    #[serde(default)]
    pub shading: Option<Shading>,
    /// From list_blenders, a session, or `any`.
    #[serde(default)]
    pub blender: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Current,
    Camera,
    Front,
    Back,
    Left,
    Right,
    Top,
    Bottom,
    Iso,
    Angle,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Shading {
    Current,
    Wireframe,
    Solid,
    Material,
    Rendered,
}

/// What a capture shows, from what was asked and what the addon says it used (`camera`: the
/// scene's, or a temporary one framing the objects).
fn caption(asked: &ScreenshotArgs, shot: &Screenshot) -> String {
    let shading = asked
        .shading
        .as_ref()
        .map(|s| format!(", {} shading", wire_name(s)))
        .unwrap_or_default();
    if shot.source != Some(CaptureSource::Render) {
        let view = asked
            .view
            .as_ref()
            .map(|v| format!(", {} view", wire_name(v)))
            .unwrap_or_default();
        return format!("the 3D viewport{view}{shading}");
    }
    let scene_camera = shot.camera == Some(CaptureCamera::Scene);
    let from = match asked.view {
        None | Some(View::Current) | Some(View::Camera) if scene_camera => {
            "through the scene camera".to_owned()
        }
        None | Some(View::Current) | Some(View::Camera) => {
            "from a camera framing the objects (the scene has no camera)".to_owned()
        }
        Some(View::Angle) => format!(
            "from azimuth {}°, elevation {}°",
            asked.azimuth.unwrap_or(0.0),
            asked.elevation.unwrap_or(0.0)
        ),
        Some(view) => format!("from the {} view", wire_name(&view)),
    };
    format!("headless Blender: a render {from}{shading}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::args::decode;
    use serde_json::json;

    #[test]
    fn scene_fields_are_an_enum_naming_the_valid_ones() {
        let err = decode::<SceneInfoArgs>(
            json!({"fields": ["name", "nosuchfield"]})
                .as_object()
                .cloned(),
        )
        .unwrap_err();
        assert!(
            err.message.contains("unknown variant `nosuchfield`")
                && err
                    .message
                    .contains("`name`, `type`, `location`, `visible`, `parent`"),
            "{}",
            err.message
        );
        let schema = serde_json::to_value(schemars::schema_for!(SceneInfoArgs)).unwrap();
        assert!(schema.to_string().contains("\"visible\""), "{schema}");
    }
}
