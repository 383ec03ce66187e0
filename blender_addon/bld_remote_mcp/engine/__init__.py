"""Running agent code in Blender: the service and what it is made of. Pure: no bpy.

The ``service`` owns the main-thread queue (``mainthread``), the jobs (``job_registry``), the
namespaces (``sessions``), the persist store (``persist_store``), output capture (``capture``),
timeouts and cancellation (``interrupt``), guard mode (``guard``) and the ``executor`` that runs
one job (``code_runner``: REPL semantics and tracebacks). Everything that needs bpy (the scene
probe, the namespace preload, undo steps, saving checkpoints, quitting Blender) is handed in by
``blender.api``, so this whole path is unit-tested with plain Python.
"""
