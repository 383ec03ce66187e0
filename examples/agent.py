"""A short agent-side script: drive Blender through `bld-remote mcp` with the official MCP SDK.

    pip install mcp==2.3.0
    python examples/agent.py            # uses `bld-remote` on PATH (or BLD_REMOTE_BIN)

`--spawn` starts a headless Blender when none is running and stops it at the end. The script
builds a small scene, prints structured results, streams a slow loop's prints as progress and
saves a preview PNG.
"""

import asyncio
import base64
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BUILD = """
import bpy
for i in range(3):
    bpy.ops.mesh.primitive_monkey_add(location=(i * 2.5 - 2.5, 0, 0))
print(f"{len(bpy.data.objects)} objects")
sorted(o.name for o in bpy.data.objects)
"""

SLOW = "import time\nfor i in range(3):\n    print(f'step {i}')\n    time.sleep(0.3)\n'done'"


async def main(out="agent-preview.png"):
    binary = os.environ.get("BLD_REMOTE_BIN", "bld-remote")
    params = StdioServerParameters(command=binary, args=["mcp", "--spawn", *sys.argv[1:]])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        status = await session.call_tool("check_connection_status", {})
        print("connection:", status.structured_content)

        built = await session.call_tool("execute_code", {"code": BUILD})
        print("built:", built.structured_content["result"], "| stdout:", built.structured_content["stdout"].strip())

        async def progress(value, total, message):
            print("  progress:", message.strip())

        slow = await session.call_tool("execute_code", {"code": SLOW}, progress_callback=progress)
        print("slow:", slow.structured_content["status"], slow.structured_content["result"])

        failed = await session.call_tool("execute_code", {"code": "bpy.data.objects['Nope']"})
        print("error:", failed.is_error, failed.structured_content["error"]["message"])

        scene = await session.call_tool("get_scene_info", {"fields": ["name", "type", "location"]})
        print("scene:", scene.structured_content["object_count"], "objects")

        shot = await session.call_tool("get_viewport_screenshot", {"max_size": 640})
        image = next(block for block in shot.content if block.type == "image")
        with open(out, "wb") as handle:
            handle.write(base64.b64decode(image.data))
        print("preview:", out)


if __name__ == "__main__":
    asyncio.run(main())
