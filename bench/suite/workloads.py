"""Realistic work, timed twice: inside Blender (the bridge's own `duration` of the code) and end
to end at the client. The difference is what the bridge costs on top of the work itself."""

import time

RENDER = """
import bpy, os, tempfile
scene = bpy.context.scene
scene.render.engine = 'BLENDER_WORKBENCH'
scene.render.resolution_x = scene.render.resolution_y = 256
scene.render.resolution_percentage = 100
scene.render.filepath = os.path.join(tempfile.gettempdir(), 'bld_bench_preview_{rep}.png')
bpy.ops.render.render(write_still=True)
_result = os.path.getsize(scene.render.filepath)
"""

CREATE_OBJECTS = """
import bpy, bmesh
mesh = bpy.data.meshes.new('bench_cube_{rep}')
bm = bmesh.new()
bmesh.ops.create_cube(bm, size=0.5)
bm.to_mesh(mesh)
bm.free()
collection = bpy.context.scene.collection
for i in range(1000):
    ob = bpy.data.objects.new('bench_{rep}_%d' % i, mesh)
    ob.location = (i % 32, (i // 32) % 32, i // 1024)
    collection.objects.link(ob)
_result = len(bpy.data.objects)
"""

REMOVE_OBJECTS = """
import bpy
for ob in [o for o in bpy.data.objects if o.name.startswith('bench_')]:
    bpy.data.objects.remove(ob)
for me in [m for m in bpy.data.meshes if m.name.startswith('bench_') and m.users == 0]:
    bpy.data.meshes.remove(me)
"""

# 317 x 317 = 100,489 vertices, faces included (a real mesh, not a point cloud).
MAKE_GRID = """
import bpy
bpy.ops.mesh.primitive_grid_add(x_subdivisions=317, y_subdivisions=317, size=4)
bpy.context.active_object.name = 'bench_grid'
_result = len(bpy.data.objects['bench_grid'].data.vertices)
"""

MODIFY_MESH = """
import bpy, numpy as np
mesh = bpy.data.objects['bench_grid'].data
co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
mesh.vertices.foreach_get('co', co)
co = co.reshape(-1, 3)
co[:, 2] = np.sin(co[:, 0] * 3.0 + {rep}) * np.cos(co[:, 1] * 3.0) * 0.2
mesh.vertices.foreach_set('co', co.ravel())
mesh.update()
_result = len(mesh.vertices)
"""

WORKLOADS = [
    # name, setup, timed code, teardown, repetitions
    ("render 256x256 Workbench", None, RENDER, None, 5),
    ("create 1,000 objects", None, CREATE_OBJECTS, REMOVE_OBJECTS, 5),
    ("modify a 100k-vertex mesh", MAKE_GRID, MODIFY_MESH, REMOVE_OBJECTS, 5),
]


def _inside_seconds(protocol, reply):
    if protocol == "v1":
        if reply.get("status") != "success":
            raise RuntimeError(f"workload failed: {reply.get('error')} {reply.get('traceback')}")
        return reply["duration"]
    if reply.get("status") != "success":
        raise RuntimeError(f"workload failed: {reply.get('message')}")
    return reply["result"]["duration"]


def run(conn, protocol, workloads=WORKLOADS, settle=0.0):
    """Each workload on one connection: median end-to-end and inside times over its repetitions.

    `settle`: seconds to wait after each untimed setup or teardown call. A GUI Blender redraws
    its viewport on the main thread after every change (in software GL under Xvfb, a quarter of
    a second for 1,000 objects); without the pause the timed call would queue behind the redraw
    that the previous call caused, and that wait would be counted as the bridge's."""
    out = {}
    for name, setup, code, teardown, reps in workloads:
        try:
            out[name] = _one(conn, protocol, setup, code, teardown, reps, settle)
        except Exception as exc:  # noqa: BLE001 - a failed workload is reported, not fatal
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


def _one(conn, protocol, setup, code, teardown, reps, settle):
    rows = []
    time.sleep(settle)
    for rep in range(reps):
        if setup:
            _inside_seconds(protocol, conn.execute(setup))
            time.sleep(settle)
        start = time.perf_counter()
        reply = conn.execute(code.format(rep=rep))
        end_to_end = time.perf_counter() - start
        rows.append((end_to_end, _inside_seconds(protocol, reply)))
        if teardown:
            _inside_seconds(protocol, conn.execute(teardown))
        time.sleep(settle)  # the timed call's own redraw, too
    rows.sort()
    e2e, inside = rows[len(rows) // 2]
    return {"reps": reps, "end_to_end_s": round(e2e, 4), "inside_s": round(inside, 4),
            "bridge_ms": round((e2e - inside) * 1000, 2),
            "bridge_share": round((e2e - inside) / e2e, 4) if e2e else None}
