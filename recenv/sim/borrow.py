"""Borrowed views for the compiled kernels: arrays without reference counting.

Numba counts references to every array a kernel extracts from a tuple or hands to another
function, with an atomic add on the array's shared counter. In the per-shopper loop of the
step that was dozens of atomics per shopper-step (most of its time), and with two threads
on one array the counter's cache line bounced between cores, so a second thread added
little. ``borrowed`` gives the same arrays with no owner to count: the kernel entry points
call it once on their arguments, which the caller keeps alive for the whole call (the
simulator owns them), so nothing can be freed under the kernel.
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.extending import intrinsic


def _borrow_array(context, builder, array_type, value):
    source = context.make_array(array_type)(context, builder, value)
    view = context.make_array(array_type)(context, builder)
    for name in ("nitems", "itemsize", "data", "shape", "strides"):
        setattr(view, name, getattr(source, name))
    view.meminfo = cgutils.get_null_value(view.meminfo.type)  # no owner: no counting
    view.parent = cgutils.get_null_value(view.parent.type)
    return view._getvalue()


@intrinsic
def borrowed(typingctx, value):
    """An array, or a tuple (named or not) whose arrays are replaced by borrowed views of
    the same memory; other members pass through. Same type in, same type out."""

    def codegen(context, builder, signature, args):
        value_type, value = signature.args[0], args[0]
        if isinstance(value_type, types.Array):
            return _borrow_array(context, builder, value_type, value)
        result = value
        for index, member_type in enumerate(value_type):
            if isinstance(member_type, types.Array):
                member = builder.extract_value(value, index)
                view = _borrow_array(context, builder, member_type, member)
                result = builder.insert_value(result, view, index)
        return result

    if not isinstance(value, (types.Array, types.BaseTuple)):
        return None
    return value(value), codegen
