//! client-go's create-update-delete-deployment example, with kube-rs. Used by
//! bench/build_time.sh to time a clean release build; runs against any kubeconfig.
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = match std::env::args().nth(1) {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            kube::Client::try_from(kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?)?
        }
        None => kube::Client::try_default().await?,
    };
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let labels = std::collections::BTreeMap::from([("app".to_owned(), "demo".to_owned())]);
    let d = Deployment {
        metadata: ObjectMeta { name: Some("demo-deployment".into()), ..Default::default() },
        spec: DeploymentSpec {
            replicas: Some(2),
            selector: LabelSelector { match_labels: Some(labels.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".into(),
                        image: Some("nginx:1.12".into()),
                        ports: Some(vec![ContainerPort { container_port: 80, name: Some("http".into()), ..Default::default() }]),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let created = deployments.create(&PostParams::default(), &d).await?;
    println!("Created deployment {:?}", created.metadata.name);
    let mut current = deployments.get("demo-deployment").await?;
    current.spec.replicas = Some(1);
    deployments.replace("demo-deployment", &PostParams::default(), &current).await?;
    for d in deployments.list(&ListParams::default()).await?.items {
        println!(" * {:?} ({:?} replicas)", d.metadata.name, d.spec.replicas);
    }
    deployments.delete("demo-deployment", &DeleteParams::default()).await?;
    println!("Deleted deployment.");
    Ok(())
}
