"""Recommendation agents for recenv: any class with ``act``/``learn``/``save``/``load`` is one."""
