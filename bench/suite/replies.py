"""How much an agent receives: the size of `bld-remote mcp`'s replies in the cases that used to
drown it (issue 14), through the official MCP SDK. Sizes are deterministic (what the server
sends), so a test can hold them to a budget; the report shows them beside the raw size of what
was produced.

Each row: the tool result's text characters, its structured content as JSON, and what the code
produced before the budget (characters of stdout, objects listed, ...)."""

import asyncio
import json
import os

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

CASES = (
    ("tools/list", None, None),
    ("20,000 objects created (metadata)", "execute_code", {"code": (
        "import bpy\nmesh = bpy.data.meshes.new('bench_reply')\n"
        "for i in range(20000):\n    bpy.context.scene.collection.objects.link(bpy.data.objects.new(f'bench_reply_{i}', mesh))")}),
    ("get_scene_info of 20,000 objects (default page)", "get_scene_info", {}),
    ("20,000 objects deleted (metadata)", "execute_code", {"code": (
        "import bpy\nfor o in [o for o in bpy.data.objects if o.name.startswith('bench_reply_')]:\n"
        "    bpy.data.objects.remove(o)")}),
    ("5 MB of stdout", "execute_code", {"code": "print('x' * 5_000_000)"}),
    ("a result of 1.3 MB of JSON", "execute_code", {"code": "list(range(200_000))"}),
    ("a 32x32 Cycles render (progress lines)", "execute_code", {"code": (
        "import bpy\ns = bpy.context.scene\ns.render.engine = 'CYCLES'\ns.cycles.samples = 32\n"
        "s.render.resolution_x = s.render.resolution_y = 32\ns.render.filepath = bpy.app.tempdir + 'b.png'\n"
        "bpy.ops.render.render(write_still=True)")}),
    ("a traceback printed 4 times", "execute_code", {"code": (
        "import traceback\ntry:\n    1/0\nexcept ZeroDivisionError:\n"
        "    for _ in range(4):\n        traceback.print_exc()\n    raise")}),
)


async def _measure(binary, port, env):
    params = StdioServerParameters(command=str(binary), args=["mcp", "--port", str(port)], env=env)
    rows = {}
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                for name, tool, arguments in CASES:
                    if tool is None:
                        listed = await client.list_tools()
                        size = len(json.dumps(listed.model_dump(mode="json", by_alias=True, exclude_none=True)))
                        rows[name] = {"text_chars": 0, "structured_chars": size}
                        continue
                    result = await client.call_tool(tool, arguments)
                    text = "".join(block.text for block in result.content if block.type == "text")
                    structured = result.structured_content or {}
                    rows[name] = {"text_chars": len(text), "structured_chars": len(json.dumps(structured)),
                                  "is_error": bool(result.is_error)}
    return rows


def reply_sizes(binary, port, state_dir):
    """Sizes of the replies for CASES, against the Blender on `port`."""
    env = dict(os.environ, BLD_REMOTE_STATE_DIR=state_dir)
    return asyncio.run(asyncio.wait_for(_measure(binary, port, env), 600))
