"""The platform's own API, at the paths its documentation gives (the Task History API under
``/projects/{project_id}/task-history``), authorized with the admin API's scoped keys."""
