"""Reusable learners and their parts: ``dqn`` (dueling, double), ``replay`` (buffers), ``gcn``
(graph convolution). Method-specific networks live with their method in ``methods/<seed>/``."""
