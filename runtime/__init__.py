"""The runtime floor shared by every process: Kafka and Redis clients, topics, the event
envelope, settings common to all processes, logging and correlation, the error tree.

It sits between the contracts (``schemas/``, which it may import) and the processes
(``gateway/``, ``streams/``, ``helpdesk/``, ``techgear/``, which it never imports).
"""
