import { z } from 'zod';
import { createCommentBody, createTicketBody, listTicketsQuery, pageQuery, patchTicketBody } from './schemas.ts';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

/** Query parameters of a schema, as OpenAPI parameter objects. */
function queryParameters(schema: z.ZodObject) {
  const props = (json(schema).properties ?? {}) as Record<string, Record<string, unknown>>;
  return Object.entries(props).map(([name, s]) => ({ name, in: 'query', required: false, schema: s }));
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const numberParam = { name: 'number', in: 'path', required: true, schema: { type: 'integer', minimum: 1 }, description: 'The ticket number people quote (#1042).' };
const idempotencyKey = { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 200 }, description: 'The same key and body return the first result instead of a second ticket or comment.' };
const prefer = { name: 'Prefer', in: 'header', required: false, schema: { type: 'string', enum: ['respond-async'] }, description: 'Answer 202 at once instead of waiting for the commit.' };
const common = {
  '401': errorResponse('Missing, unknown or revoked API key'),
  '403': errorResponse('The key\'s role may not do this'),
  '422': errorResponse('A field is missing or invalid; `error.field` names it'),
};

function multipartOf(schema: z.ZodType) {
  const base = json(schema);
  return {
    ...base,
    properties: {
      ...(base.properties as object),
      files: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'One or more files (any part name).' },
      payload: { type: 'string', description: 'Optional JSON object with the structured fields (e.g. reporter).' },
    },
  };
}

/** A page of `schema` items, as every list answers. */
function page(schema: string) {
  return { type: 'object', properties: { data: { type: 'array', items: { $ref: `#/components/schemas/${schema}` } }, page: { type: 'integer' }, per_page: { type: 'integer' }, total: { type: 'integer' } } };
}

/** The OpenAPI 3.1 description of the REST API, built from the same schemas that validate requests. */
export function openApiDocument(serverUrl = '/api/v1'): Record<string, unknown> {
  const accepted = { description: 'Accepted; not committed yet. Follow `Location` (GET /requests/{id}).', content: { 'application/json': { schema: { $ref: '#/components/schemas/Pending' } } } };
  return {
    openapi: '3.1.0',
    info: { title: 'Helpdesk API', version: '1', description: 'Tickets, comments and attachments. Authenticate with `Authorization: Bearer <api key>`.' },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    paths: {
      '/tickets': {
        post: {
          summary: 'Open a ticket', parameters: [idempotencyKey, prefer],
          requestBody: { required: true, content: { 'application/json': { schema: json(createTicketBody) }, 'multipart/form-data': { schema: multipartOf(createTicketBody) } } },
          responses: { '201': { description: 'The ticket', content: { 'application/json': { schema: { $ref: '#/components/schemas/Ticket' } } } }, '202': accepted, '400': errorResponse('Malformed JSON or multipart'), ...common, '413': errorResponse('A file is over the size limit'), '503': errorResponse('Queue unavailable; nothing saved') },
        },
        get: {
          summary: 'List tickets', parameters: queryParameters(listTicketsQuery),
          responses: { '200': { description: 'A page of tickets', content: { 'application/json': { schema: page('Ticket') } } }, ...common },
        },
      },
      '/tickets/{number}': {
        get: { summary: 'A ticket with a page of its messages', parameters: [numberParam, ...queryParameters(pageQuery)], responses: { '200': { description: 'The ticket and a page of its messages', content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/Ticket' }, { type: 'object', properties: { messages: page('Message') } }] } } } }, '404': errorResponse('No such ticket in this organization'), ...common } },
        patch: { summary: 'Change status, priority, deadline, category or assignee', parameters: [numberParam], requestBody: { required: true, content: { 'application/json': { schema: json(patchTicketBody) } } }, responses: { '200': { description: 'The ticket after the change', content: { 'application/json': { schema: { $ref: '#/components/schemas/Ticket' } } } }, '404': errorResponse('No such ticket'), '409': errorResponse('The status transition is not allowed'), ...common } },
      },
      '/tickets/{number}/events': { get: { summary: 'The audit trail of a ticket (agents and admins)', parameters: [numberParam, ...queryParameters(pageQuery)], responses: { '200': { description: 'A page of events', content: { 'application/json': { schema: page('Event') } } }, '404': errorResponse('No such ticket'), ...common } } },
      '/tickets/{number}/comments': {
        post: {
          summary: 'Add a public reply or an internal note', parameters: [numberParam, idempotencyKey, prefer],
          requestBody: { required: true, content: { 'application/json': { schema: json(createCommentBody) }, 'multipart/form-data': { schema: multipartOf(createCommentBody) } } },
          responses: { '201': { description: 'The message, with `ticket` (its number)', content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/Message' }, { type: 'object', properties: { ticket: { type: 'integer' } } }] } } } }, '202': accepted, '404': errorResponse('No such ticket'), '413': errorResponse('A file is over the size limit'), ...common },
        },
      },
      '/requests/{id}': { get: { summary: 'The result of a request answered 202', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'Committed (with the ticket) or failed (with the error)' }, '202': { description: 'Still pending' }, '404': errorResponse('No such request') } } },
      '/attachments/{id}': { get: { summary: 'Download an attachment', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }], responses: { '200': { description: 'The file, as an attachment, with X-Content-Type-Options: nosniff' }, '404': errorResponse('No such attachment') } } },
      '/users': { get: { summary: 'Users of the organization (agents and admins only)', parameters: queryParameters(pageQuery), responses: { '200': { description: 'A page of users' }, ...common } } },
      '/categories': { get: { summary: 'Categories (a tree: `parent` is the parent id)', parameters: queryParameters(pageQuery), responses: { '200': { description: 'A page of categories' } } } },
      '/services': { get: { summary: 'Services', parameters: queryParameters(pageQuery), responses: { '200': { description: 'A page of services' } } } },
      '/objects': { get: { summary: 'Objects', parameters: queryParameters(pageQuery), responses: { '200': { description: 'A page of objects' } } } },
      '/mail/inbound': { get: { summary: 'Incoming mail and what became of it: ticket, message (with the threading rule), automatic, bounce, held or failed (admins only)', parameters: [...queryParameters(pageQuery), { name: 'status', in: 'query', schema: { enum: ['ticket', 'message', 'automatic', 'bounce', 'held', 'failed'] } }], responses: { '200': { description: 'A page of the mail log, newest first' }, ...common, '403': errorResponse('Not an admin') } } },
      '/mail/inbound/{id}/release': { post: { summary: 'Take a mail held by the sender limit after all (admins only); answers what became of it', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }], responses: { '200': { description: 'status (ticket or message), ticket number' }, '404': errorResponse('No such held mail'), ...common, '403': errorResponse('Not an admin') } } },
      '/mail/inbound/{id}/raw': { get: { summary: 'The raw source of a held or failed mail (admins only)', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }], responses: { '200': { description: 'message/rfc822', content: { 'message/rfc822': {} } }, '404': errorResponse('No kept source'), ...common, '403': errorResponse('Not an admin') } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key from `npm run cli -- apikey create`' } },
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } } } },
        Pending: { type: 'object', properties: { status: { const: 'pending' }, request: { type: 'string' } } },
        Actor: { type: ['object', 'null'], properties: { type: { enum: ['user', 'reporter'] }, id: { type: 'string', format: 'uuid' }, name: { type: 'string' } } },
        Attachment: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, filename: { type: 'string' }, content_type: { type: 'string' }, size: { type: 'integer' }, sha256: { type: 'string' } } },
        Message: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' }, visibility: { enum: ['public', 'internal'] }, channel: { type: 'string' }, body: { type: 'string' }, html: { type: ['string', 'null'], description: 'Sanitized HTML of a message that arrived as HTML' }, metadata: { type: 'object', description: 'Staff only: what the channel recorded, e.g. email.messageId and email.threadRule' },
            author: { $ref: '#/components/schemas/Actor' }, attachments: { type: 'array', items: { $ref: '#/components/schemas/Attachment' } },
            created_at: { type: 'string', format: 'date-time' },
          },
        },
        Event: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' }, kind: { enum: ['created', 'updated', 'status_changed', 'message_added'] }, channel: { type: 'string' },
            actor: { $ref: '#/components/schemas/Actor' }, created_at: { type: 'string', format: 'date-time' },
            changes: { type: 'object', description: 'Per field: { "from": before, "to": after }', additionalProperties: true },
          },
        },
        Ref: { type: ['object', 'null'], properties: { id: { type: 'string', format: 'uuid' }, name: { type: 'string' } } },
        Ticket: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' }, number: { type: 'integer' }, subject: { type: 'string' }, description: { type: 'string' },
            status: { enum: ['new', 'open', 'in_progress', 'waiting', 'resolved', 'closed'] }, priority: { enum: ['low', 'normal', 'high', 'urgent'] },
            deadline: { type: ['string', 'null'], format: 'date-time' }, channel: { type: 'string' },
            category: { $ref: '#/components/schemas/Ref' }, service: { $ref: '#/components/schemas/Ref' }, object: { $ref: '#/components/schemas/Ref' },
            assignee: { type: ['object', 'null'] }, reporter: { type: 'object' },
            created_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
  };
}
