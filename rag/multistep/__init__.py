"""Questions that need more than one retrieval ("which of the two was founded first?").

* ``decompose`` — for models without tool calls: the question is cut into sub-questions by rule, each is
  retrieved, and the rankings are merged by reciprocal rank fusion (``merge``).
* ``tool_loop`` — for profiles that take tool calls (``profile.tools``): the model is offered a ``search``
  tool and may ask for more retrieval, up to ``search_tool_max_calls`` times; every result joins the
  sources as new ``[S#]`` labels and the verifier checks the answer against all of them.
* ``strategy`` — which of the two a question gets (setting ``multistep``).
"""
