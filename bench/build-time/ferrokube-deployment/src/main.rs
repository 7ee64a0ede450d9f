//! client-go's create-update-delete-deployment example, with ferrokube. Used by
//! bench/build_time.sh to time a clean release build; runs against any kubeconfig.
use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{CreateOptions, DeleteOptions, GetOptions, ListOptions, UpdateOptions};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kubeconfig = std::env::args().nth(1).map(std::path::PathBuf::from);
    let config = ferrokube::clientcmd::client_config::build_config_from_flags(None, kubeconfig.as_deref())?;
    let cs = Clientset::new(&config)?;
    let deployments = cs.apps_v1().deployments("default");
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
    let created = deployments.create(&d, &CreateOptions::default()).await?;
    println!("Created deployment {:?}", created.metadata.name);
    let mut current = deployments.get("demo-deployment", &GetOptions::default()).await?;
    current.spec.replicas = Some(1);
    deployments.update(&current, &UpdateOptions::default()).await?;
    for d in deployments.list(&ListOptions::default()).await?.items {
        println!(" * {:?} ({:?} replicas)", d.metadata.name, d.spec.replicas);
    }
    deployments.delete("demo-deployment", &DeleteOptions::default()).await?;
    println!("Deleted deployment.");
    Ok(())
}
