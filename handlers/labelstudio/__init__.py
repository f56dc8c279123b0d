"""The ``labelstudio`` review backend at run time: reviews as tasks of a team's own Label Studio.

``client`` speaks Label Studio's REST API (pure Python: urllib), ``labeling`` owns the project's
labelling config, ``settings`` what a function is told about the instance and its secrets, and
``backend`` opens reviews, turns annotations into the shared review outcome (by webhook and by a
scheduled reconcile) and serves the images Label Studio shows.
"""
