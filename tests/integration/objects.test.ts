import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedOrganization, startTestApp, type TestApp } from '../support/app.ts';

/*
 * Objects for admins: request template, photo, QR codes and label sheets; tickets about an object get its
 * template.
 */

let app: TestApp;
let seed: Awaited<ReturnType<typeof seedOrganization>>;
let other: Awaited<ReturnType<typeof seedOrganization>>;
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

beforeAll(async () => {
  app = await startTestApp({ env: { PUBLIC_URL: 'https://help.example.org' }, workerOptions: { email: false, telegram: false } });
  seed = await seedOrganization(app, 'Object Org');
  other = await seedOrganization(app, 'Other Org');
}, 60_000);
afterAll(async () => {
  await app?.stop();
});

describe('objects', () => {
  it('an admin creates an object with a request template; tickets about it get the template unless they say otherwise', async () => {
    const admin = apiClient(app.baseUrl, seed.admin.key);
    const category = await app.directory.createCategory(seed.org.id, 'Lifts');
    const res = await admin.post('/objects', {
      name: 'Лифт 2, корпус А', kind: 'lift', address: 'Main st. 1',
      default_category_id: category.id, default_priority: 'high', default_assignee_id: seed.agent.id,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'Лифт 2, корпус А', kind: 'lift', template: { category_id: category.id, priority: 'high', assignee_id: seed.agent.id } });
    expect(res.body.passport_url).toMatch(/^https:\/\/help\.example\.org\/o\/[0-9a-f]{32}$/);
    const id = res.body.id as string;

    const customer = apiClient(app.baseUrl, seed.customer.key);
    const t = await customer.post('/tickets', { subject: 'Stuck', description: 'Between floors', object: id });
    expect(t.status).toBe(201);
    expect(t.body).toMatchObject({ priority: 'high', category: { id: category.id }, assignee: { id: seed.agent.id }, object: { id } });
    const explicit = await apiClient(app.baseUrl, seed.agent.key).post('/tickets', { subject: 'Noise', object: id, priority: 'low' });
    expect(explicit.body).toMatchObject({ priority: 'low', category: { id: category.id } });
    // Another organization's object gives nothing, not even its template.
    const foreign = await apiClient(app.baseUrl, other.admin.key).post('/objects', { name: 'Foreign', default_priority: 'urgent' });
    const t2 = await customer.post('/tickets', { subject: 'Foreign object', object: foreign.body.id });
    expect(t2.status).toBe(422);
    expect(t2.body.error.field).toBe('object');
  });

  it('refuses what it must: roles, other organizations, references and bad values', async () => {
    const admin = apiClient(app.baseUrl, seed.admin.key);
    const created = await admin.post('/objects', { name: 'Printer 3' });
    const id = created.body.id as string;
    expect((await apiClient(app.baseUrl, seed.agent.key).post('/objects', { name: 'x' })).status).toBe(403);
    expect((await apiClient(app.baseUrl, seed.agent.key).patch(`/objects/${id}`, { name: 'x' })).status).toBe(403);
    expect((await apiClient(app.baseUrl, seed.customer.key).get(`/objects/${id}`)).status).toBe(403);
    expect((await apiClient(app.baseUrl, other.admin.key).get(`/objects/${id}`)).status).toBe(404);
    expect((await apiClient(app.baseUrl, other.admin.key).patch(`/objects/${id}`, { name: 'stolen' })).status).toBe(404);
    const foreignCategory = await app.directory.createCategory(other.org.id, 'Theirs');
    const bad = await admin.patch(`/objects/${id}`, { default_category_id: foreignCategory.id });
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toContain('No such category');
    expect((await admin.patch(`/objects/${id}`, { default_assignee_id: seed.customer.id })).status).toBe(422);
    expect((await admin.patch(`/objects/${id}`, { default_priority: 'whenever' })).status).toBe(422);
    expect((await admin.post('/objects', { name: '' })).status).toBe(422);
    expect((await admin.post('/objects', { name: 'x', colour: 'red' })).status).toBe(422);
    const cleared = await admin.patch(`/objects/${id}`, { default_priority: 'urgent', address: 'Room 12' });
    expect(cleared.body).toMatchObject({ address: 'Room 12', template: { priority: 'urgent' } });
    expect((await admin.patch(`/objects/${id}`, { default_priority: null })).body.template.priority).toBeNull();
  });

  it('takes a photo that is really an image', async () => {
    const admin = apiClient(app.baseUrl, seed.admin.key);
    const id = (await admin.post('/objects', { name: 'Room 5' })).body.id as string;
    const upload = (content: Buffer, name: string, type: string) => {
      const fd = new FormData();
      fd.append('file', new Blob([new Uint8Array(content)], { type }), name);
      return admin.raw('PUT', `/objects/${id}/photo`, { body: fd });
    };
    expect((await upload(Buffer.from('<script>alert(1)</script>'), 'photo.png', 'image/png')).status).toBe(415);
    const ok = await upload(PNG, 'room.png', 'image/png');
    expect(ok.status).toBe(200);
    expect(ok.body.has_photo).toBe(true);
  });

  it('draws QR codes and prints label sheets', async () => {
    const admin = apiClient(app.baseUrl, seed.admin.key);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push((await admin.post('/objects', { name: `Printer ${i} — Drucker № ${i}` })).body.id);
    const svg = await fetch(`${app.baseUrl}/api/v1/objects/${ids[0]}/qr.svg`, { headers: { authorization: `Bearer ${seed.agent.key}` } });
    expect(svg.headers.get('content-type')).toContain('image/svg+xml');
    expect(await svg.text()).toMatch(/^<svg[^>]+viewBox/);
    const png = await fetch(`${app.baseUrl}/api/v1/objects/${ids[0]}/qr.png`, { headers: { authorization: `Bearer ${seed.agent.key}` } });
    expect(Buffer.from(await png.arrayBuffer()).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

    const pdf = await fetch(`${app.baseUrl}/api/v1/objects/labels.pdf?ids=${ids.join(',')}&layout=a4-3x8`, { headers: { authorization: `Bearer ${seed.agent.key}` } });
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    const bytes = Buffer.from(await pdf.arrayBuffer());
    expect(bytes.subarray(0, 5).toString()).toBe('%PDF-');
    // 25 labels, 24 to an A4 sheet: two pages.
    expect(bytes.toString('latin1').match(/\/Type \/Page\b/g)).toHaveLength(2);
    expect((await admin.get(`/objects/labels.pdf?ids=${ids[0]}&layout=a5-1x1`)).status).toBe(422);
    expect((await admin.get('/objects/labels.pdf?ids=not-an-id')).status).toBe(422);
    const foreign = (await apiClient(app.baseUrl, other.admin.key).post('/objects', { name: 'Theirs' })).body.id;
    expect((await admin.get(`/objects/labels.pdf?ids=${ids[0]},${foreign}`)).status).toBe(404);
    expect((await apiClient(app.baseUrl, seed.customer.key).get(`/objects/labels.pdf?ids=${ids[0]}`)).status).toBe(403);
  });
});
