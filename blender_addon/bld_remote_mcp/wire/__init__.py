"""The protocol on the socket (docs/protocol.md): bytes in, replies out. Pure: no bpy.

What a connection sends is turned into messages (``framing``), checked at the gate
(``auth``, ``handshake``), routed to its command (``dispatch``; 1.3.3 shapes in ``legacy``) and
answered in the reply shapes of ``replies``, with the error codes of ``errors``; ``tcp_server``
holds the sockets and threads, and ``serialize`` makes any value JSON the wire can carry. What a
command does is in ``commands``; how code runs is in ``engine``. Nothing here imports from
``engine`` or ``blender``.
"""
