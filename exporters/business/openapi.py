"""The ingest API's OpenAPI 3.1 document, built from the configured event types."""

from __future__ import annotations

from typing import Any

from exporters.config.business import BusinessConfig

ERROR_REASONS = {
    "400": ["bad_json", "bad_encoding", "bad_framing", "bad_request"],
    "401": ["unauthorized"],
    "404": ["not_found"],
    "405": ["method_not_allowed"],
    "408": ["request_timeout"],
    "413": ["body_too_large", "batch_too_large"],
    "415": ["unsupported_media_type", "unsupported_encoding"],
    "431": ["headers_too_large"],
    "422": [
        "invalid_event",
        "unknown_type",
        "unknown_label",
        "missing_label",
        "invalid_label_value",
        "label_value_not_allowed",
        "invalid_value",
        "value_overflow",
    ],
    "429": ["cardinality_cap", "rate_limited"],
    "503": ["store_error"],
}


def _event_schema(name: str, config: BusinessConfig) -> dict[str, Any]:
    spec = config.events[name]
    labels = {}
    for label, rule in spec.labels.items():
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": config.limits.max_label_value_length}
        if rule.values is not None:
            schema["enum"] = list(rule.values)
        labels[label] = schema
    observed = spec.observes_value
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "labels", *(["value"] if observed else [])],
        "properties": {
            "type": {"const": name},
            "labels": {
                "type": "object",
                "additionalProperties": False,
                "required": list(spec.labels),
                "properties": labels,
            },
            "value": {"type": "number", **({} if observed else {"minimum": 0, "default": 1})},
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "description": "Retrying an event with the same id is idempotent.",
            },
            "timestamp": {"type": "number", "description": "Unix seconds; defaults to the time of receipt."},
        },
    }


def openapi_document(config: BusinessConfig) -> dict[str, Any]:
    events = {name: _event_schema(name, config) for name in sorted(config.events)}
    event_ref = {"oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in events]}
    error = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "event": {"type": "integer", "description": "Index of the failing event in the batch."},
            "field": {"type": "string"},
        },
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "Every event is durably stored (duplicates by id are acknowledged, not counted).",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}},
                    }
                }
            },
        },
    }
    for status, reasons in ERROR_REASONS.items():
        responses[status] = {
            "description": ", ".join(reasons),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    responses["429"]["headers"] = {
        "Retry-After": {
            "description": "Seconds to wait; sent with rate_limited only (a cardinality cap does not pass with time).",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "AlisChain business events ingest", "version": "1"},
        "paths": {
            "/api/v1/events": {
                "post": {
                    "summary": "Record one event or a batch (all or nothing)",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        event_ref,
                                        {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": config.limits.max_batch_events,
                                            "items": event_ref,
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": responses,
                }
            }
        },
        "components": {
            "schemas": {**events, "Error": error},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
