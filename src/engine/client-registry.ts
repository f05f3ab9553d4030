import { clientsMax } from '../constants.js';
import { ClientActor } from './client-actor.js';

/** A shard's client actors; an actor is created by the first well-formed row naming its client. */
export class ClientRegistry {
  private readonly actors: (ClientActor | undefined)[] = new Array(clientsMax);
  private readonly order: ClientActor[] = [];

  get(client: number): ClientActor | undefined {
    return this.actors[client];
  }

  getOrCreate(client: number): ClientActor {
    let actor = this.actors[client];
    if (actor === undefined) {
      actor = new ClientActor(client);
      this.actors[client] = actor;
      this.order.push(actor);
    }
    return actor;
  }

  get size(): number {
    return this.order.length;
  }

  all(): readonly ClientActor[] {
    return this.order;
  }
}
