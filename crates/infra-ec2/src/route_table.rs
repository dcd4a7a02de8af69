//! [`RouteTable`]: the `route_table` type, a VPC route table with its
//! routes and subnet associations inline (Terraform's `aws_route_table`
//! with `aws_route_table_association`s). Routes are synced in place with
//! CreateRoute / ReplaceRoute / DeleteRoute, associations with
//! Associate / DisassociateRouteTable. The `local` route AWS adds (and
//! propagated or other-target routes, which this type cannot declare) are
//! never reported, so never drift. Delete disassociates first.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ResourceType, RouteOrigin};
use infra_aws::{Tags, error_code, found, read_tags, tags_attribute};
use infra_core::{
    Attribute, Existing, Fields, Observed, OpContext, Output, ProviderError, Request, Resource,
    Schema, Type, UpdateRequest, Validator, Value, string_list, string_map,
};

use crate::ec2::{
    Op, appear, arn, from_sdk, is_not_found, lookup_failed, sync_tags, tag_spec, token_filter,
};

/// The resource type name.
pub const TYPE_NAME: &str = "route_table";

infra_aws::resource_type! {
    /// The `route_table` type; register it as `infra_aws::typed(RouteTable::new(aws))`.
    pub struct RouteTable(Client, "route table");
}

/// Where a route sends its traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An internet gateway (`gateway_id`).
    Gateway(String),
    /// A NAT gateway (`nat_gateway_id`).
    Nat(String),
}

/// The inputs of a `route_table`, typed.
#[derive(Debug)]
pub struct Spec {
    vpc_id: String,
    /// Destination block → target.
    routes: BTreeMap<String, Target>,
    subnet_ids: Vec<String>,
    tags: Tags,
}

type Table = aws_sdk_ec2::types::RouteTable;

/// The routes this type manages: not `local`, not propagated, with a
/// gateway or NAT gateway target.
fn routes(table: &Table) -> BTreeMap<String, Target> {
    let managed = table.routes().iter().filter(|r| {
        r.gateway_id() != Some("local")
            && r.origin() != Some(&RouteOrigin::EnableVgwRoutePropagation)
    });
    let target = |r: &aws_sdk_ec2::types::Route| {
        let gateway = r.gateway_id().map(|g| Target::Gateway(g.to_owned()));
        gateway.or_else(|| r.nat_gateway_id().map(|n| Target::Nat(n.to_owned())))
    };
    managed
        .filter_map(|r| Some((r.destination_cidr_block()?.to_owned(), target(r)?)))
        .collect()
}

/// Subnet → association id, for the subnets associated explicitly.
fn associations(table: &Table) -> BTreeMap<String, String> {
    let explicit = table
        .associations()
        .iter()
        .filter(|a| a.main() != Some(true));
    explicit
        .filter_map(|a| {
            Some((
                a.subnet_id()?.to_owned(),
                a.route_table_association_id()?.to_owned(),
            ))
        })
        .collect()
}

fn observe(op: &Op, table: &Table) -> Observed {
    let id = table.route_table_id().unwrap_or_default();
    let route = |(cidr, target): (&String, &Target)| {
        let (key, to) = match target {
            Target::Gateway(g) => ("gateway_id", g),
            Target::Nat(n) => ("nat_gateway_id", n),
        };
        [
            ("cidr_block", Value::from(cidr.as_str())),
            (key, Value::from(to.as_str())),
        ]
        .into_iter()
        .collect::<Value>()
    };
    let subnets: Vec<String> = associations(table).into_keys().collect();
    let inputs = [
        ("vpc_id", table.vpc_id().into()),
        (
            "routes",
            Value::List(routes(table).iter().map(route).collect()),
        ),
        ("subnet_ids", string_list(&subnets)),
        ("tags", string_map(&from_sdk(table.tags()))),
    ];
    let resource = format!("route-table/{id}");
    let outputs = [
        ("id", id.into()),
        ("arn", arn(op, table.owner_id(), &resource).into()),
    ];
    Observed {
        id: id.to_owned(),
        inputs: inputs.into_iter().collect(),
        outputs: outputs.into_iter().collect(),
    }
}

async fn describe(op: &Op, id: &str) -> Result<Option<Table>, ProviderError> {
    let out = op
        .client
        .describe_route_tables()
        .route_table_ids(id)
        .send()
        .await;
    let out = found(out.map_err(|e| lookup_failed(op, "reading", &e)))?;
    Ok(out.and_then(|o| o.route_tables().first().cloned()))
}

async fn look(op: &Op, id: &str) -> infra_core::ReadResult {
    Ok(describe(op, id).await?.map(|t| observe(op, &t)))
}

/// The table made under `token`, if any.
async fn by_token(op: &Op, token: &str) -> Result<Option<String>, ProviderError> {
    let out = op
        .client
        .describe_route_tables()
        .filters(token_filter(token))
        .send()
        .await;
    let out = out.map_err(|e| op.failed("looking up", &e))?;
    Ok(out
        .route_tables()
        .first()
        .and_then(|t| t.route_table_id())
        .map(str::to_owned))
}

/// Brings the routes of `id` from `actual` to `desired`: deletes, then
/// replacements, then new routes.
async fn sync_routes(
    op: &Op,
    id: &str,
    actual: &BTreeMap<String, Target>,
    desired: &BTreeMap<String, Target>,
) -> Result<(), ProviderError> {
    for cidr in actual.keys().filter(|c| !desired.contains_key(*c)) {
        let request = op
            .client
            .delete_route()
            .route_table_id(id)
            .destination_cidr_block(cidr);
        match request.send().await {
            Err(e) if !error_code(&e).is_some_and(is_not_found) => {
                return Err(op.failed(&format!("deleting the route to {cidr} of"), &e));
            }
            _ => {}
        }
    }
    for (cidr, target) in desired {
        let doing = format!("routing {cidr} in");
        match actual.get(cidr) {
            Some(now) if now == target => {}
            Some(_) => {
                let request = op
                    .client
                    .replace_route()
                    .route_table_id(id)
                    .destination_cidr_block(cidr);
                let request = match target {
                    Target::Gateway(g) => request.gateway_id(g),
                    Target::Nat(n) => request.nat_gateway_id(n),
                };
                request.send().await.map_err(|e| op.failed(&doing, &e))?;
            }
            None => {
                let request = op
                    .client
                    .create_route()
                    .route_table_id(id)
                    .destination_cidr_block(cidr);
                let request = match target {
                    Target::Gateway(g) => request.gateway_id(g),
                    Target::Nat(n) => request.nat_gateway_id(n),
                };
                request.send().await.map_err(|e| op.failed(&doing, &e))?;
            }
        }
    }
    Ok(())
}

/// Disassociates `association`; one already gone is fine.
async fn disassociate(op: &Op, association: &str) -> Result<(), ProviderError> {
    let request = op
        .client
        .disassociate_route_table()
        .association_id(association);
    match request.send().await {
        Err(e) if !error_code(&e).is_some_and(is_not_found) => {
            Err(op.failed(&format!("disassociating {association} from"), &e))
        }
        _ => Ok(()),
    }
}

/// Brings the table `id` to `spec`: routes, associations, tags.
async fn converge(
    op: &Op,
    id: &str,
    table: &Table,
    spec: &Spec,
) -> Result<Observed, ProviderError> {
    sync_routes(op, id, &routes(table), &spec.routes).await?;
    let associated = associations(table);
    for (subnet, association) in &associated {
        if !spec.subnet_ids.contains(subnet) {
            disassociate(op, association).await?;
        }
    }
    for subnet in spec
        .subnet_ids
        .iter()
        .filter(|s| !associated.contains_key(*s))
    {
        let request = op
            .client
            .associate_route_table()
            .route_table_id(id)
            .subnet_id(subnet);
        if let Err(e) = request.send().await {
            let err = op.failed(&format!("associating {subnet} with"), &e);
            return Err(match error_code(&e) {
                Some("Resource.AlreadyAssociated") => err.hint(
                    "the subnet is associated with another route table: remove it there first",
                ),
                _ => err,
            });
        }
    }
    let tags = from_sdk(table.tags());
    sync_tags(op, id, &tags, &spec.tags).await?;
    look(op, id)
        .await?
        .ok_or_else(|| op.not_visible_yet("reading"))
}

#[async_trait]
impl Resource for RouteTable {
    type Spec = Spec;

    fn schema(&self) -> Schema {
        let vpc = Attribute::new("vpc_id", Type::String)
            .required()
            .forces_replacement();
        let route = Type::Object(vec![
            Attribute::new("cidr_block", Type::String)
                .required()
                .validate(Validator::Cidr)
                .describe("the destination block, such as 0.0.0.0/0"),
            Attribute::new("gateway_id", Type::String)
                .describe("an internet gateway to send it to"),
            Attribute::new("nat_gateway_id", Type::String).describe("a NAT gateway to send it to"),
        ]);
        let routes = Attribute::new("routes", Type::set(route)).default(Value::List(Vec::new()));
        let subnets =
            Attribute::new("subnet_ids", Type::set(Type::String)).default(Value::List(Vec::new()));
        Schema::new(TYPE_NAME)
            .attribute(vpc.describe("the VPC of the table"))
            .attribute(routes.describe("routes, each with exactly one target (`gateway_id` or `nat_gateway_id`), updated in place"))
            .attribute(subnets.describe("the subnets associated with the table, updated in place"))
            .attribute(tags_attribute("route table"))
            .output(Output::new("arn", Type::String, "the table's ARN"))
    }

    fn parse(&self, f: &mut Fields<'_>) -> Spec {
        let vpc_id = f.required_string("vpc_id");
        let read = f.tables("routes", |t| {
            let cidr = t.required_string("cidr_block");
            let gateway = t.string("gateway_id").map(Target::Gateway);
            let nat = t.string("nat_gateway_id").map(Target::Nat);
            match (t.is_set("gateway_id"), t.is_set("nat_gateway_id")) {
                (true, true) => t.problem(&[], "a route has exactly one target: set `gateway_id` or `nat_gateway_id`, not both"),
                (false, false) => t.problem(&[], "a route needs a target: set `gateway_id` or `nat_gateway_id`"),
                _ => {}
            }
            (cidr, gateway.or(nat))
        });
        let routes = read
            .into_iter()
            .filter_map(|(cidr, target)| Some((cidr, target?)))
            .collect();
        Spec {
            vpc_id,
            routes,
            subnet_ids: f.strings("subnet_ids").unwrap_or_default(),
            tags: read_tags(f, "tags"),
        }
    }

    async fn create(&self, op: Request<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, spec, _) = op.parts();
        let op = self.op(ctx, "(new)").await?;
        let id = match by_token(&op, &ctx.token).await? {
            Some(id) => {
                ctx.progress("adopting the route table an earlier attempt made");
                id
            }
            None => {
                let request = op
                    .client
                    .create_route_table()
                    .vpc_id(&spec.vpc_id)
                    .client_token(&ctx.token)
                    .tag_specifications(tag_spec(ResourceType::RouteTable, &spec.tags, &ctx.token));
                let out = request
                    .send()
                    .await
                    .map_err(|e| op.failed("creating", &e))?;
                let id = out.route_table().and_then(|t| t.route_table_id());
                id.ok_or_else(|| op.not_visible_yet("creating"))?.to_owned()
            }
        };
        let op = self.op(ctx, &id).await?;
        let table = appear(ctx, &op, || describe(&op, &id)).await?;
        converge(&op, &id, &table, spec).await
    }

    async fn read(&self, ctx: &OpContext, existing: &Existing) -> infra_core::ReadResult {
        look(&self.op(ctx, &existing.id).await?, &existing.id).await
    }

    async fn find(&self, op: Request<'_, Spec>) -> infra_core::ReadResult {
        let aws = self.op(op.ctx, "(new)").await?;
        match by_token(&aws, &op.ctx.token).await? {
            Some(id) => look(&aws, &id).await,
            None => Ok(None),
        }
    }

    async fn update(&self, op: UpdateRequest<'_, Spec>) -> Result<Observed, ProviderError> {
        let (ctx, existing, spec, _) = op.parts();
        let op = self.op(ctx, &existing.id).await?;
        let table = describe(&op, &existing.id)
            .await?
            .ok_or_else(|| op.gone("updating"))?;
        converge(&op, &existing.id, &table, spec).await
    }

    async fn delete(&self, ctx: &OpContext, existing: &Existing) -> Result<(), ProviderError> {
        let op = self.op(ctx, &existing.id).await?;
        let Some(table) = describe(&op, &existing.id).await? else {
            return Ok(());
        };
        for association in associations(&table).values() {
            disassociate(&op, association).await?;
        }
        let request = op.client.delete_route_table().route_table_id(&existing.id);
        match request.send().await {
            Err(e) if !error_code(&e).is_some_and(is_not_found) => {
                return Err(op.failed("deleting", &e));
            }
            _ => {}
        }
        op.wait_gone(ctx, || describe(&op, &existing.id)).await
    }
}

#[cfg(test)]
mod tests {
    use infra_core::{Phase, display_path};

    use super::*;
    use infra_aws::AwsContext;

    fn route(pairs: &[(&str, Value)]) -> Value {
        pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    fn problems(routes: Vec<Value>) -> Vec<String> {
        let inputs: Value = [
            ("vpc_id", Value::from("vpc-1")),
            ("routes", Value::List(routes)),
        ]
        .into_iter()
        .collect();
        let table = RouteTable::new(AwsContext::new());
        let mut f = Fields::new(&inputs, Phase::Plan);
        table.parse(&mut f);
        let schema = table.schema().validate(&inputs);
        schema
            .into_iter()
            .chain(f.into_problems())
            .map(|(p, _)| display_path(&p))
            .collect()
    }

    #[test]
    fn each_route_has_exactly_one_target() {
        let good = route(&[
            ("cidr_block", "0.0.0.0/0".into()),
            ("gateway_id", Value::Unknown),
        ]);
        let both = route(&[
            ("cidr_block", "10.1.0.0/16".into()),
            ("gateway_id", "igw-1".into()),
            ("nat_gateway_id", "nat-1".into()),
        ]);
        let none = route(&[("cidr_block", "10.2.0.0/16".into())]);
        assert!(problems(vec![good.clone()]).is_empty());
        assert_eq!(
            problems(vec![good.clone(), both, none]),
            ["routes[1]", "routes[2]"]
        );
        let bad_block = route(&[
            ("cidr_block", "10.0.0.0/33".into()),
            ("nat_gateway_id", "nat-1".into()),
        ]);
        assert_eq!(problems(vec![good, bad_block]), ["routes[1].cidr_block"]);
    }
}
